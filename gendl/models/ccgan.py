"""The networks of CC-GAN (Denton, Gross & Fergus 2016, "Semi-Supervised Learning with
Context-Conditional Generative Adversarial Networks"), sized for small images (MNIST).

Generator: an encoder-decoder that sees the context (the image with its hole set to 0, the
middle of the [-1, 1] scale the networks work in) and, optionally, a low-resolution copy of
the whole image (the paper's conditioning for large holes, upsampled back to full size and
stacked as extra channels). Encoder: 4x4 stride-2 convs (ngf, 2 ngf, ...) with LeakyReLU(0.2),
batch norm on all but the first; bottleneck: 3x3 convs at the coarsest size, so that every
output pixel sees the whole image (a 14-pixel hole of a 28-pixel image needs it); decoder:
4x4 stride-2 transposed convs with batch norm + ReLU, tanh output. It predicts a whole image;
the objective keeps only its pixels inside the hole.

Discriminator: one trunk, two heads, as in the paper: a real/in-painted logit and K class
logits; or, with k_plus_one, only the K class logits, the real/in-painted logit being their
logsumexp (Salimans et al. 2016's K+1 classes with the fake logit fixed at 0, as
objectives/sgan.py), so that every unlabelled and in-painted image trains the class head.
3x3 conv (ndf), then 4x4 stride-2 convs (2 ndf, 4 ndf, ...), LeakyReLU(0.2), dropout
after each stride-2 layer. No batch norm: the same network scores labelled, unlabelled and
in-painted batches and classifies test images one by one, so its output must not depend on
the company an image keeps in its batch.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import conv


def check_size(height: int, width: int, levels: int, low_res_factor: int = 0):
    """A ConfigError unless the image halves `levels` times (and divides by the low-res
    factor) without remainder."""
    step = 2**levels
    if levels < 1 or height % step or width % step:
        raise ConfigError(
            f"config.model.levels={levels} stride-2 levels need the image side to be a multiple "
            f"of {step}, but the images are {height}x{width}. Use levels=2 for 28x28 (MNIST) "
            "or resize the images (config.data.ops 'resize:N')."
        )
    if low_res_factor and (height % low_res_factor or width % low_res_factor):
        raise ConfigError(
            f"config.model.low_res_factor={low_res_factor} must divide the image side "
            f"({height}x{width}); use 4 for 28x28 (a 7x7 copy) or 0 for no low-resolution input."
        )


def low_resolution(x, factor: int):
    """The image averaged over factor x factor blocks, repeated back to full size: what the
    generator sees of the whole image when the low-resolution input is on."""
    n, height, width, channels = x.shape
    small = x.reshape(n, height // factor, factor, width // factor, factor, channels).mean((2, 4))
    return jnp.repeat(jnp.repeat(small, factor, axis=1), factor, axis=2)


def _batch_norm(train, dtype, name):
    return nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype, name=name
    )


class CcganGenerator(nn.Module):
    """(context [n, H, W, C] in [-1, 1], low_res or None) -> image [n, H, W, C] in [-1, 1]."""

    channels: int = 1
    ngf: int = 64
    levels: int = 2
    bottleneck: int = 2  # 3x3 convs at the coarsest size
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, context, low_res=None, train: bool = True):
        h = context if low_res is None else jnp.concatenate([context, low_res], axis=-1)
        h = h.astype(self.dtype)
        down = dict(kernel_size=4, stride=2, padding=1, impl=self.conv_impl)
        for i in range(self.levels):
            h = conv.Conv(self.ngf * 2**i, use_bias=i == 0, name=f"down{i + 1}", **down)(h)
            if i > 0:
                h = _batch_norm(train, self.dtype, f"down{i + 1}_bn")(h)
            h = nn.leaky_relu(h, 0.2)
        width = self.ngf * 2 ** (self.levels - 1)
        for i in range(self.bottleneck):
            h = conv.Conv(width, 3, padding=1, use_bias=False, name=f"mid{i + 1}")(h)
            h = nn.relu(_batch_norm(train, self.dtype, f"mid{i + 1}_bn")(h))
        up = dict(kernel_size=4, stride=2, padding=1, impl=self.conv_impl)
        for i in reversed(range(1, self.levels)):
            h = conv.ConvTranspose(self.ngf * 2 ** (i - 1), use_bias=False, name=f"up{i}", **up)(h)
            h = nn.relu(_batch_norm(train, self.dtype, f"up{i}_bn")(h))
        h = conv.ConvTranspose(self.channels, name="out", **up)(h)
        return jnp.tanh(h.astype(jnp.float32))


class CcganDiscriminator(nn.Module):
    """images [n, H, W, C] in [-1, 1] -> (real/in-painted logits [n], class logits [n, K]).
    Dropout is on when `train` is true and needs the "dropout" rng."""

    num_classes: int = 10
    ndf: int = 64
    levels: int = 2
    dropout: float = 0.5
    k_plus_one: bool = False
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = False):
        h = nn.leaky_relu(conv.Conv(self.ndf, 3, padding=1, name="in")(x.astype(self.dtype)), 0.2)
        down = dict(kernel_size=4, stride=2, padding=1, impl=self.conv_impl)
        for i in range(self.levels):
            h = nn.leaky_relu(
                conv.Conv(self.ndf * 2 ** (i + 1), name=f"down{i + 1}", **down)(h), 0.2
            )
            h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = h.reshape(h.shape[0], -1)
        classes = nn.Dense(self.num_classes, dtype=self.dtype, name="classes")(h)
        classes = classes.astype(jnp.float32)
        if self.k_plus_one:
            # K+1 classes with the fake class's logit fixed at 0 (Salimans et al. 2016):
            # D(x) = Z / (Z + 1) = sigmoid(logsumexp(classes)), Z = sum_k exp(classes_k).
            return jax.nn.logsumexp(classes, axis=-1), classes
        adversarial = nn.Dense(1, dtype=self.dtype, name="adversarial")(h)
        return jnp.squeeze(adversarial, -1).astype(jnp.float32), classes


def build(cfg, image_shape):
    height, width, channels = image_shape
    levels = int(cfg.levels)
    check_size(height, width, levels, int(cfg.get("low_res_factor", 0)))
    common = dict(
        levels=levels,
        dtype=jnp.dtype(cfg.get("dtype", "float32")),
        conv_impl=cfg.get("conv_impl", "auto"),
    )
    return {
        "generator": CcganGenerator(
            channels=channels, ngf=int(cfg.ngf), bottleneck=int(cfg.bottleneck), **common
        ),
        "discriminator": CcganDiscriminator(
            num_classes=int(cfg.num_classes),
            ndf=int(cfg.ndf),
            dropout=float(cfg.dropout),
            k_plus_one=bool(cfg.get("k_plus_one", False)),
            **common,
        ),
    }
