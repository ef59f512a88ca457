"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017, "Photo-Realistic Single
Image Super-Resolution Using a Generative Adversarial Network", fig. 4).

Generator (fully convolutional: any input size, output `scale` times larger):
  9x9 conv (channels) + PReLU;
  `blocks` residual blocks: 3x3 conv, BN, PReLU, 3x3 conv, BN, + the block's input;
  3x3 conv, BN, + the output of the first conv (the long skip);
  log2(scale) upsampling stages: 3x3 conv to 4 x channels, depth-to-space x2, PReLU;
  9x9 conv to the image's channels, no activation.
The paper's network is 16 blocks of 64 channels (`model.blocks`, `model.channels`); PReLU
has one learned slope per channel, starting at 0.25 (He et al. 2015).

Discriminator (fixed input size: it ends in dense layers): 3x3 conv (ndf) + LeakyReLU(0.2),
then 7 conv-BN-LeakyReLU blocks whose widths double every second block (ndf, 2, 2, 4, 4, 8,
8 x ndf) with strides 2, 1, 2, 1, 2, 1, 2; dense 1024, LeakyReLU, dense 1: one logit per
image. ndf 64 is the paper's.

Batch norm uses momentum 0.9 and eps 1e-5 (PyTorch's defaults, as gendl's pix2pix); convs and
dense layers PyTorch's default initialisation.
"""

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gendl.models import conv
from gendl.models.unet import batch_norm

# The discriminator's (width multiplier, stride) after its first conv.
DISCRIMINATOR_BLOCKS = ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2))


def depth_to_space(x, r: int):
    """[n, h, w, r*r*c] -> [n, h*r, w*r, c]; channel (i*r + j)*c + k goes to the sub-pixel
    (i, j) of channel k (TensorFlow's depth_to_space order)."""
    n, h, w, d = x.shape
    c = d // (r * r)
    x = x.reshape(n, h, w, r, r, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h * r, w * r, c)


class PReLU(nn.Module):
    """max(0, x) + a min(0, x) with one learned slope a per channel."""

    @nn.compact
    def __call__(self, x):
        a = self.param("alpha", nn.initializers.constant(0.25), (x.shape[-1],), jnp.float32)
        return jnp.where(x >= 0, x, a.astype(x.dtype) * x)


def _conv(features, kernel, stride=1, use_bias=True, impl="auto", name=None):
    return conv.Conv(
        features,
        kernel,
        stride=stride,
        padding=kernel // 2,
        use_bias=use_bias,
        impl=impl,
        name=name,
    )


class SRResNet(nn.Module):
    out_channels: int = 3
    scale: int = 4
    blocks: int = 16
    channels: int = 64
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = True):
        """Low-resolution images in [0, 1] [n, h, w, C] -> [n, h*scale, w*scale, out_channels]
        on the [-1, 1] scale of the targets (unbounded: no output activation)."""
        c, impl = self.channels, self.conv_impl
        h = PReLU(name="head_prelu")(_conv(c, 9, impl=impl, name="head")(x.astype(self.dtype)))
        skip = h
        for i in range(self.blocks):
            r = _conv(c, 3, use_bias=False, impl=impl, name=f"block{i}_conv0")(h)
            r = PReLU(name=f"block{i}_prelu")(batch_norm(train, f"block{i}_bn0")(r))
            r = _conv(c, 3, use_bias=False, impl=impl, name=f"block{i}_conv1")(r)
            h = h + batch_norm(train, f"block{i}_bn1")(r)
        h = _conv(c, 3, use_bias=False, impl=impl, name="trunk_conv")(h)
        h = skip + batch_norm(train, "trunk_bn")(h)
        for i in range(int(math.log2(self.scale))):
            h = depth_to_space(_conv(4 * c, 3, impl=impl, name=f"up{i}")(h), 2)
            h = PReLU(name=f"up{i}_prelu")(h)
        return _conv(self.out_channels, 9, impl=impl, name="tail")(h).astype(jnp.float32)


class SRGANDiscriminator(nn.Module):
    ndf: int = 64
    dense: int = 1024
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = True):
        """High-resolution images on the [-1, 1] scale [n, H, W, C] -> logits [n] (float32)."""
        h = _conv(self.ndf, 3, impl=self.conv_impl, name="conv0")(x.astype(self.dtype))
        h = nn.leaky_relu(h, 0.2)
        for i, (mult, stride) in enumerate(DISCRIMINATOR_BLOCKS, start=1):
            h = _conv(
                self.ndf * mult, 3, stride, use_bias=False, impl=self.conv_impl, name=f"conv{i}"
            )(h)
            h = nn.leaky_relu(batch_norm(train, f"conv{i}_bn")(h), 0.2)
        h = h.reshape(h.shape[0], -1)
        h = nn.leaky_relu(nn.Dense(self.dense, dtype=self.dtype, name="dense")(h), 0.2)
        return nn.Dense(1, dtype=self.dtype, name="logit")(h)[:, 0].astype(jnp.float32)


def build(cfg, spec):
    """{"generator", "discriminator"} for the data's "image" feature (the high resolution)."""
    channels = spec.image_shape[-1]
    common = dict(
        dtype=jnp.dtype(cfg.get("dtype", "float32")), conv_impl=cfg.get("conv_impl", "auto")
    )
    return {
        "generator": SRResNet(
            out_channels=channels,
            scale=int(cfg.get("scale", 4)),
            blocks=int(cfg.get("blocks", 16)),
            channels=int(cfg.get("channels", 64)),
            **common,
        ),
        "discriminator": SRGANDiscriminator(
            ndf=int(cfg.get("ndf", 64)), dense=int(cfg.get("dense", 1024)), **common
        ),
    }
