"""MLP generator and discriminator (Goodfellow et al. 2014; conditional: Mirza & Osindero 2014).

Generator: z (concatenated with a one-hot label when conditional) -> ReLU hidden layers
(optionally batch-normed) -> sigmoid pixels in [0, 1]. Discriminator: image rescaled to
[-1, 1] (concatenated with the one-hot label when conditional) -> LeakyReLU(0.2) hidden
layers with dropout -> one logit. The paper's discriminator used maxout units and dropout;
LeakyReLU is the common modern stand-in for maxout.
Every module computes in `dtype` (parameters stay float32) and returns float32.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def _check_labels(labels, num_classes):
    if num_classes and labels is None:
        raise ValueError("This network is conditional (num_classes > 0): pass the labels.")


def label_pathway(h, labels, num_classes, width, activation, dtype, name):
    """The label's own hidden layer, concatenated to the features `h` (Mirza & Osindero's
    MNIST networks map y to 1000 units in G and 50 in D before joining z or x): a one-hot
    input of 10 among 784 pixels is a small share of the first layer's input, which the
    discriminator learns to read late; a layer of its own gives the label its weight."""
    if not num_classes:
        return h
    _check_labels(labels, num_classes)
    y = jax.nn.one_hot(labels, num_classes, dtype=dtype)
    return jnp.concatenate([h, activation(nn.Dense(width, dtype=dtype, name=name)(y))], axis=-1)


def one_hot_condition(h, labels, num_classes):
    """Concatenates one_hot(labels) to the features `h` of a conditional network."""
    if not num_classes:
        return h
    if labels is None:
        raise ValueError("This network is conditional (num_classes > 0): pass the labels.")
    return jnp.concatenate([h, jax.nn.one_hot(labels, num_classes, dtype=h.dtype)], axis=-1)


class MlpGenerator(nn.Module):
    image_shape: tuple = (28, 28, 1)
    hidden: tuple = (256, 512, 1024)
    num_classes: int = 0
    # 0: the one-hot label is concatenated to z; > 0: the label goes through its own hidden
    # layer of this width, joined to z's first hidden layer (`label_pathway`).
    label_hidden: int = 0
    batch_norm: bool = False  # after every hidden layer but the first
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z, labels=None, train: bool = True):
        h = z.astype(self.dtype)
        if not self.label_hidden:
            h = one_hot_condition(h, labels, self.num_classes)
        for i, width in enumerate(self.hidden):
            h = nn.Dense(width, dtype=self.dtype, name=f"hidden{i}")(h)
            if self.batch_norm and i > 0:
                h = nn.BatchNorm(
                    use_running_average=not train, momentum=0.9, dtype=self.dtype, name=f"bn{i}"
                )(h)
            h = nn.relu(h)
            if i == 0 and self.label_hidden:
                h = label_pathway(
                    h, labels, self.num_classes, self.label_hidden, nn.relu, self.dtype, "label"
                )
        h = nn.Dense(math.prod(self.image_shape), dtype=self.dtype, name="out")(h)
        return jax.nn.sigmoid(h.astype(jnp.float32)).reshape(z.shape[0], *self.image_shape)


class MlpDiscriminator(nn.Module):
    hidden: tuple = (1024, 512, 256)
    num_classes: int = 0
    # How a conditional discriminator reads the label. label_hidden 0: one-hot concatenated to
    # the pixels; > 0: its own hidden layer joined to the image's first (`label_pathway`).
    label_hidden: int = 0
    # Projection (Miyato & Koyama 2018): logit = psi(phi(x)) + <embed(y), phi(x)>, the label
    # entering at the output, where it cannot be outweighed by the image's inputs.
    projection: bool = False
    # Dropout after every hidden layer while training (needs a "dropout" rng), as in the
    # paper's discriminator: without it the discriminator quickly overpowers the generator.
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, labels=None, train: bool = True):
        h = (2.0 * x.reshape(x.shape[0], -1) - 1.0).astype(self.dtype)
        if self.num_classes and not (self.label_hidden or self.projection):
            h = one_hot_condition(h, labels, self.num_classes)

        def act(v):
            return nn.leaky_relu(v, 0.2)

        for i, width in enumerate(self.hidden):
            h = act(nn.Dense(width, dtype=self.dtype, name=f"hidden{i}")(h))
            if i == 0 and self.label_hidden:
                h = label_pathway(
                    h, labels, self.num_classes, self.label_hidden, act, self.dtype, "label"
                )
            h = nn.Dropout(self.dropout, deterministic=not train or not self.dropout)(h)
        logit = jnp.squeeze(nn.Dense(1, dtype=self.dtype, name="logit")(h), -1)
        if self.projection and self.num_classes:
            _check_labels(labels, self.num_classes)
            embed = nn.Embed(self.num_classes, h.shape[-1], dtype=self.dtype, name="embed")
            logit = logit + jnp.sum(embed(labels) * h, axis=-1)
        return logit.astype(jnp.float32)


def build(cfg, image_shape):
    num_classes = int(cfg.get("num_classes", 0))
    dtype = jnp.dtype(cfg.get("dtype", "float32"))
    return {
        "generator": MlpGenerator(
            image_shape=tuple(image_shape),
            hidden=tuple(cfg.g_hidden),
            num_classes=num_classes,
            label_hidden=int(cfg.get("g_label_hidden", 0)),
            batch_norm=bool(cfg.get("g_batch_norm", False)),
            dtype=dtype,
        ),
        "discriminator": MlpDiscriminator(
            hidden=tuple(cfg.d_hidden),
            num_classes=num_classes,
            label_hidden=int(cfg.get("d_label_hidden", 0)),
            projection=bool(cfg.get("d_projection", False)),
            dropout=float(cfg.get("d_dropout", 0.0)),
            dtype=dtype,
        ),
    }
