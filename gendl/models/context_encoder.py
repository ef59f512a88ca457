"""The context encoder's networks (Pathak et al. 2016, "Context Encoders: Feature Learning by
Inpainting", sec. 3.1 and the authors' code): an encoder-decoder that sees an image with a
hole and paints the whole image, and a discriminator of completed images.

Encoder: 4x4 stride-2 convs halving the image down to 4x4 (widths nef * min(2^i, 8);
LeakyReLU(0.2); batch norm on all but the first), as the authors' code. Bottleneck: the
paper's channel-wise fully connected layer (sec. 3.1): each of the m feature maps of 4x4 is
connected to itself by its own 16 x 16 dense layer (m * 16^2 weights instead of a full
layer's (16 m)^2), so information spreads across the whole image inside each channel, then
a stride-1 (1x1) convolution mixes the channels. Decoder: 4x4 stride-2 transposed convs back
to the image size (batch norm and ReLU, tanh output in [-1, 1]), the decoder of the authors'
code. Images whose sides are not 4 * 2^k (MNIST's 28) are zero-padded to the next such size
(32) and the output cropped back.

The generator paints every pixel; the objective pastes the context back and scores the hole
(gendl/objectives/context_encoder.py), so one network serves the centre hole and random
masks. Discriminator: the PatchGAN of pix2pix (models/patchgan.py) on the completed image
alone; at 64x64 each of its logits sees the whole image.
"""

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import conv, patchgan
from gendl.models.unet import KERNEL_INIT, batch_norm

BOTTLENECK_SIDE = 4
MAX_MULT = 8


def levels_for(height: int, width: int) -> int:
    """Halvings from the padded image down to the 4x4 bottleneck."""
    return max(1, math.ceil(math.log2(max(height, width) / BOTTLENECK_SIDE)))


class ChannelWiseDense(nn.Module):
    """Per channel, a dense layer over that channel's spatial positions: [n, h, w, c] ->
    [n, h, w, c], weights [c, h w, h w] (no mixing across channels)."""

    kernel_init: Any = KERNEL_INIT

    @nn.compact
    def __call__(self, x):
        n, h, w, c = x.shape
        kernel = self.param("kernel", self.kernel_init, (c, h * w, h * w), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (c, h * w), jnp.float32)
        flat = x.reshape(n, h * w, c)
        y = jnp.einsum("npc,cpq->nqc", flat, kernel.astype(x.dtype)) + bias.T.astype(x.dtype)
        return y.reshape(n, h, w, c)


class ContextEncoder(nn.Module):
    out_channels: int = 3
    nef: int = 64
    ngf: int = 64
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x, train: bool = True):
        """x in [-1, 1] [n, H, W, C] (the hole already filled) -> the painted image [-1, 1]."""
        n, height, width, _ = x.shape
        levels = levels_for(height, width)
        side = BOTTLENECK_SIDE * 2**levels
        pad_h, pad_w = side - height, side - width
        h = jnp.pad(
            x.astype(self.dtype),
            ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
        )
        down = dict(kernel_size=4, stride=2, padding=1, impl=self.conv_impl)
        for i in range(levels):
            h = conv.Conv(
                self.nef * min(2**i, MAX_MULT),
                use_bias=i == 0,
                kernel_init=KERNEL_INIT,
                bias_init=nn.initializers.zeros,
                name=f"down{i}",
                **down,
            )(h)
            if i > 0:
                h = batch_norm(train, f"down{i}_bn")(h)
            h = nn.leaky_relu(h, 0.2)
        h = ChannelWiseDense(name="channel_wise_fc")(h)
        h = conv.Conv(
            h.shape[-1], kernel_size=1, use_bias=False, kernel_init=KERNEL_INIT, name="mix"
        )(h)
        h = nn.relu(batch_norm(train, "mix_bn")(h))
        for i in reversed(range(levels)):
            last = i == 0
            layer = conv.ConvTranspose(
                self.out_channels if last else self.ngf * min(2 ** (i - 1), MAX_MULT),
                use_bias=last,
                kernel_init=KERNEL_INIT,
                bias_init=nn.initializers.zeros,
                name=f"up{i}",
                **down,
            )
            h = layer(h)
            if not last:
                h = nn.relu(batch_norm(train, f"up{i}_bn")(h))
        h = h[:, pad_h // 2 : pad_h // 2 + height, pad_w // 2 : pad_w // 2 + width]
        return jnp.tanh(h.astype(jnp.float32))


def build(cfg, spec):
    if "image" not in spec.features:
        raise ConfigError(
            f"The context encoder inpaints the image feature 'image', but the data gives "
            f"{sorted(spec.features)}. Use a single-image source (config.data.source 'folder', "
            "'labelled_folders' or 'tfds_prepared')."
        )
    height, width, channels = spec.image_shape
    if min(height, width) < 8:
        raise ConfigError(
            f"The context encoder needs images of at least 8x8 pixels, got {height}x{width}."
        )
    common = dict(
        dtype=jnp.dtype(cfg.get("dtype", "float32")), conv_impl=cfg.get("conv_impl", "auto")
    )
    return {
        "generator": ContextEncoder(
            out_channels=channels, nef=int(cfg.nef), ngf=int(cfg.ngf), **common
        ),
        "discriminator": patchgan.PatchGan(ndf=int(cfg.ndf), n_layers=int(cfg.n_layers), **common),
    }
