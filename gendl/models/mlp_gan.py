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
    batch_norm: bool = False  # after every hidden layer but the first
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z, labels=None, train: bool = True):
        h = one_hot_condition(z.astype(self.dtype), labels, self.num_classes)
        for i, width in enumerate(self.hidden):
            h = nn.Dense(width, dtype=self.dtype, name=f"hidden{i}")(h)
            if self.batch_norm and i > 0:
                h = nn.BatchNorm(
                    use_running_average=not train, momentum=0.9, dtype=self.dtype, name=f"bn{i}"
                )(h)
            h = nn.relu(h)
        h = nn.Dense(math.prod(self.image_shape), dtype=self.dtype, name="out")(h)
        return jax.nn.sigmoid(h.astype(jnp.float32)).reshape(z.shape[0], *self.image_shape)


class MlpDiscriminator(nn.Module):
    hidden: tuple = (1024, 512, 256)
    num_classes: int = 0
    # Dropout after every hidden layer while training (needs a "dropout" rng), as in the
    # paper's discriminator: without it the discriminator quickly overpowers the generator.
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, labels=None, train: bool = True):
        h = (2.0 * x.reshape(x.shape[0], -1) - 1.0).astype(self.dtype)
        h = one_hot_condition(h, labels, self.num_classes)
        for i, width in enumerate(self.hidden):
            h = nn.leaky_relu(nn.Dense(width, dtype=self.dtype, name=f"hidden{i}")(h), 0.2)
            h = nn.Dropout(self.dropout, deterministic=not train or not self.dropout)(h)
        return jnp.squeeze(nn.Dense(1, dtype=self.dtype, name="logit")(h), -1).astype(jnp.float32)


def build(cfg, image_shape):
    num_classes = int(cfg.get("num_classes", 0))
    dtype = jnp.dtype(cfg.get("dtype", "float32"))
    return {
        "generator": MlpGenerator(
            image_shape=tuple(image_shape),
            hidden=tuple(cfg.g_hidden),
            num_classes=num_classes,
            batch_norm=bool(cfg.get("g_batch_norm", False)),
            dtype=dtype,
        ),
        "discriminator": MlpDiscriminator(
            hidden=tuple(cfg.d_hidden),
            num_classes=num_classes,
            dropout=float(cfg.get("d_dropout", 0.0)),
            dtype=dtype,
        ),
    }
