"""CoGAN's coupled networks for pairs of 28x28 images (Liu & Tuzel 2016, "Coupled Generative
Adversarial Networks", Table 1 for digits; layer sizes as the authors' PyTorch code,
mingyuliutw/CoGAN cogan_pytorch/src/net_cogan_mnistedge.py).

Generator: one noise vector z, four shared transposed-convolution layers that decode the
high-level semantics (4x4 1024, 3x3 stride 2 -> 512, 256, 128, each with batch norm without
scale or shift, then PReLU: 1 -> 4 -> 7 -> 13 -> 25 pixels), then one 6x6 transposed
convolution per domain (25 -> 28 pixels) with a sigmoid. Discriminator: one 5x5 conv of 20
channels + 2x2 max-pool per domain (the low-level features), then shared layers: 5x5 conv 50
+ max-pool, 4x4 conv 500 (a dense layer on the 4x4 map) + PReLU, one logit.

Weight sharing is structural: each coupled network is ONE flax module whose shared layers
exist once in its parameters (`shared*`), so both domains' outputs use, and both domains'
losses update, the same arrays; the per-domain layers are `*_a` and `*_b`.

Initialisation as the reference code: Xavier-uniform kernels with gain sqrt(2), biases 0.1.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import conv

_KERNEL_INIT = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")  # xavier, gain sqrt(2)
_BIAS_INIT = nn.initializers.constant(0.1)
_INIT = dict(kernel_init=_KERNEL_INIT, bias_init=_BIAS_INIT)


def _prelu(name):
    # One learned slope per layer, starting at PyTorch's 0.25 (flax's default is 0.01).
    return nn.PReLU(negative_slope_init=0.25, name=name)


def _max_pool_2x2(h):
    # A reshape + max, as models/classifier.py: nn.max_pool's gradient is slow on XLA:CPU.
    n, height, width, c = h.shape
    h = h[:, : height // 2 * 2, : width // 2 * 2]
    return h.reshape(n, height // 2, 2, width // 2, 2, c).max(axis=(2, 4))


class CoGenerator(nn.Module):
    """z [n, z_dim] -> (image_a, image_b), each [n, 28, 28, channels] in [0, 1]."""

    widths: tuple = (1024, 512, 256, 128)
    channels: int = 1
    conv_impl: str = "auto"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z, train: bool = False):
        h = z.reshape(z.shape[0], 1, 1, -1).astype(self.dtype)
        for i, width in enumerate(self.widths):
            layer = dict(kernel_size=4) if i == 0 else dict(kernel_size=3, stride=2, padding=1)
            h = conv.ConvTranspose(width, impl=self.conv_impl, name=f"shared{i}", **layer, **_INIT)(
                h
            )
            h = nn.BatchNorm(
                use_running_average=not train,
                use_scale=False,
                use_bias=False,
                momentum=0.9,
                dtype=self.dtype,
                name=f"shared_bn{i}",
            )(h)
            h = _prelu(f"shared_prelu{i}")(h)
        head = dict(kernel_size=6, padding=1, impl=self.conv_impl, **_INIT)
        out_a = conv.ConvTranspose(self.channels, name="out_a", **head)(h)
        out_b = conv.ConvTranspose(self.channels, name="out_b", **head)(h)
        return tuple(jax.nn.sigmoid(o.astype(jnp.float32)) for o in (out_a, out_b))


class CoDiscriminator(nn.Module):
    """(x_a, x_b), each [n, 28, 28, C] in [0, 1] -> (logits_a [n], logits_b [n])."""

    conv_impl: str = "auto"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x_a, x_b, train: bool = False):
        del train  # no batch norm or dropout: the same in training and evaluation
        first = dict(kernel_size=5, impl=self.conv_impl, **_INIT)
        h_a = _max_pool_2x2(conv.Conv(20, name="in_a", **first)(x_a.astype(self.dtype)))
        h_b = _max_pool_2x2(conv.Conv(20, name="in_b", **first)(x_b.astype(self.dtype)))
        # One pass of the shared layers over both domains (nothing here mixes examples).
        h = jnp.concatenate([h_a, h_b])
        h = _max_pool_2x2(conv.Conv(50, name="shared0", **first)(h))  # 12 -> 8 -> 4
        h = conv.Conv(500, kernel_size=4, impl=self.conv_impl, name="shared1", **_INIT)(h)
        h = _prelu("shared_prelu1")(h)
        h = conv.Conv(1, kernel_size=1, impl=self.conv_impl, name="shared2", **_INIT)(h)
        logits = h.reshape(h.shape[0]).astype(jnp.float32)
        return logits[: x_a.shape[0]], logits[x_a.shape[0] :]


def build(cfg, image_shape):
    if tuple(image_shape[:2]) != (28, 28):
        raise ConfigError(
            f"The CoGAN networks (model.name='cogan28') are the paper's for 28x28 digits; the "
            f"data has {tuple(image_shape)} images. Use MNIST-sized data (config.data.name="
            "'mnist' or 'fashion_mnist', or resize to 28x28 with config.data.ops)."
        )
    common = dict(
        dtype=jnp.dtype(cfg.get("dtype", "float32")), conv_impl=cfg.get("conv_impl", "auto")
    )
    return {
        "generator": CoGenerator(
            widths=tuple(cfg.get("widths", (1024, 512, 256, 128))),
            channels=int(image_shape[-1]),
            **common,
        ),
        "discriminator": CoDiscriminator(**common),
    }
