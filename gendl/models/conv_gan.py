"""DCGAN networks (Radford et al. 2015) for 28x28 (MNIST, Fashion-MNIST), 32x32 (CIFAR-10) and
64x64 images (the paper's own size, e.g. the emoji folder), with the options the GAN family
needs: a label fed to both networks (conditional GAN), an auxiliary class head (ACGAN, Odena et
al. 2017), spectral normalisation instead of batch norm in the discriminator (SNGAN, Miyato et
al. 2018).

Generator: z (+ one-hot label) -> dense to s0 x s0 x W0 (s0 = 7 for 28x28, 4 for 32 and 64), then
4x4 stride-2 transposed convs halving the width and doubling the size, batch norm + ReLU
after every layer but the last, sigmoid pixels in [0, 1].
Discriminator: image rescaled to [-1, 1] (+ one-hot label as constant feature maps), 4x4
stride-2 convs (dim, 2 dim[, 4 dim[, 8 dim]]) with LeakyReLU(0.2), batch norm on all but the
first (as in the paper), dense -> one logit (+ `aux_classes` class logits).

Batch norm normalises with the statistics of the whole batch given (under `jax.jit` with a
sharded batch that is the global batch over all devices) while training, and with the running
averages (collection `batch_stats`) when `train=False`."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.models import conv, spectral
from gendl.models.mlp_gan import one_hot_condition

# Image size -> number of stride-2 layers. 64: the paper's architecture (generator widths
# 8d, 4d, 2d, d from a 4x4 start; discriminator d, 2d, 4d, 8d down to 4x4).
_DEPTH = {28: 2, 32: 3, 64: 4}


def _depth(size):
    if size not in _DEPTH:
        from gendl.config import ConfigError

        raise ConfigError(
            f"The DCGAN networks are sized for {sorted(_DEPTH)}-pixel square images, but the "
            f"dataset gives {size}. Use mnist/fashion_mnist (28), cifar10 (32) or 64x64 images "
            "(e.g. a folder source with 'resize:64,64' in config.data.ops)."
        )
    return _DEPTH[size]


def _batch_norm(train, dtype, name):
    # momentum 0.9 and eps 1e-5: PyTorch's BatchNorm2d defaults, used by the DCGAN reference.
    return nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype, name=name
    )


class DcganGenerator(nn.Module):
    image_shape: tuple = (28, 28, 1)
    dim: int = 64
    num_classes: int = 0
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z, labels=None, train: bool = True):
        height, _, channels = self.image_shape
        depth = _depth(height)
        s0 = height >> depth
        widths = [self.dim * 2**i for i in reversed(range(depth))]  # e.g. [4d, 2d, d]
        h = one_hot_condition(z.astype(self.dtype), labels, self.num_classes)
        # No biases before batch norm: its shift makes them redundant.
        h = nn.Dense(s0 * s0 * widths[0], use_bias=False, dtype=self.dtype, name="fc")(h)
        h = nn.relu(_batch_norm(train, self.dtype, "fc_bn")(h))
        h = h.reshape(z.shape[0], s0, s0, widths[0])
        up = dict(kernel_size=4, stride=2, padding=1, impl=self.conv_impl)
        for i, width in enumerate(widths[1:]):
            h = conv.ConvTranspose(width, use_bias=False, name=f"up{i + 1}", **up)(h)
            h = nn.relu(_batch_norm(train, self.dtype, f"up{i + 1}_bn")(h))
        h = conv.ConvTranspose(channels, name=f"up{depth}", **up)(h)
        return jax.nn.sigmoid(h.astype(jnp.float32))


class DcganDiscriminator(nn.Module):
    dim: int = 64
    num_classes: int = 0  # > 0: conditioned on the label (input feature maps)
    aux_classes: int = 0  # > 0: also returns class logits (ACGAN)
    batch_norm: bool = True
    spectral_norm: bool = False
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, labels=None, train: bool = True):
        depth = _depth(x.shape[1])
        h = (2.0 * x - 1.0).astype(self.dtype)
        if self.num_classes:
            maps = one_hot_condition(
                jnp.zeros((x.shape[0], 0), self.dtype), labels, self.num_classes
            )
            maps = jnp.broadcast_to(maps[:, None, None, :], (*h.shape[:3], self.num_classes))
            h = jnp.concatenate([h, maps], axis=-1)
        sn = dict(enabled=self.spectral_norm, update=train)
        down = dict(kernel_size=4, stride=2, padding=1, impl=self.conv_impl)
        for i in range(depth):
            width = self.dim * 2**i
            use_bn = self.batch_norm and i > 0
            layer = conv.Conv(width, use_bias=not use_bn, name=f"down{i + 1}", **down)
            h = spectral.apply(layer, h, **sn)
            if use_bn:
                h = _batch_norm(train, self.dtype, f"down{i + 1}_bn")(h)
            h = nn.leaky_relu(h, 0.2)
        h = h.reshape(h.shape[0], -1)
        logit = spectral.apply(nn.Dense(1, dtype=self.dtype, name="logit"), h, **sn)
        logit = jnp.squeeze(logit, -1).astype(jnp.float32)
        if not self.aux_classes:
            return logit
        aux = spectral.apply(nn.Dense(self.aux_classes, dtype=self.dtype, name="aux"), h, **sn)
        return logit, aux.astype(jnp.float32)


def build(cfg, image_shape):
    _depth(image_shape[0])
    num_classes = int(cfg.get("num_classes", 0))
    common = dict(dim=int(cfg.dim), dtype=jnp.dtype(cfg.get("dtype", "float32")))
    common["conv_impl"] = cfg.get("conv_impl", "auto")
    # ACGAN: the generator is conditional, the discriminator predicts the class instead.
    aux = num_classes if cfg.get("aux_classifier", False) else 0
    return {
        "generator": DcganGenerator(tuple(image_shape), num_classes=num_classes, **common),
        "discriminator": DcganDiscriminator(
            num_classes=0 if aux else num_classes,
            aux_classes=aux,
            batch_norm=bool(cfg.get("batch_norm", True)),
            spectral_norm=bool(cfg.get("spectral_norm", False)),
            **common,
        ),
    }
