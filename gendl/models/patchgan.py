"""The pix2pix discriminator (Isola et al. 2017, sec. 3.2.2): a PatchGAN, a fully convolutional
net that classifies each overlapping patch of the (input, output) pair as real or fake and
returns a map of logits, one per patch. It only models high-frequency structure; the L1 term
takes care of low frequencies.

Layers (the reference code's n_layers = 3 "basic" discriminator): the pair concatenated on
channels, 4x4 convs of width ndf, 2 ndf, 4 ndf with stride 2, then 8 ndf with stride 1, then
one output channel with stride 1; padding 1 everywhere; LeakyReLU(0.2) between layers; batch
norm on all but the first and the last conv (no conv biases before it).

Receptive field: working back from one output logit, r = 1 and for each layer (last first)
r <- (r - 1) * stride + 4, over the strides (1, 1, 2, 2, 2): 4, 7, 16, 34, 70. Each logit
sees a 70x70 window of the input, the paper's 70x70 PatchGAN, independent of the image size.
At 64x64 that window is larger than the image, so every logit sees all of it (through zero
padding at the borders): the map of 6x6 logits at 64x64 is 36 overlapping views of the whole
image, not 36 disjoint patches. `receptive_field` computes the number.

64x64 pairs of RGB images with ndf 64 give the network of the PyTorch peer
(shared/bench/torch_ref.py `patchgan`), parameter for parameter: 2,768,705 parameters.

Unpaired translators (CycleGAN, DualGAN) judge single images: called without `output`, the
network sees `source` alone. `norm="instance"` is CycleGAN's variant (instance norm without
learned scale and shift, hence conv biases, and no running statistics); "batch" is pix2pix's.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gendl.models import conv
from gendl.models.resnet_generator import instance_norm
from gendl.models.unet import KERNEL_INIT, batch_norm

KERNEL = 4
NORMS = ("batch", "instance")


def strides(n_layers: int = 3) -> tuple:
    """The strides of the convs, first to last: n_layers strided, then two of stride 1."""
    return (2,) * n_layers + (1, 1)


def receptive_field(n_layers: int = 3) -> int:
    """The side of the input window one output logit depends on."""
    r = 1
    for s in reversed(strides(n_layers)):
        r = (r - 1) * s + KERNEL
    return r


class PatchGan(nn.Module):
    ndf: int = 64
    n_layers: int = 3
    dtype: Any = jnp.float32
    conv_impl: str = "auto"
    norm: str = "batch"  # or "instance" (see the module docstring)

    @nn.compact
    def __call__(self, source, output=None, train: bool = True):
        """source, output in [-1, 1], [n, H, W, C] each -> patch logits [n, H', W'] (float32).
        Without `output`: the logits of `source` alone (an unconditional discriminator)."""
        if self.norm not in NORMS:
            raise ValueError(f"PatchGan norm must be one of {NORMS}, got {self.norm!r}")
        h = source if output is None else jnp.concatenate([source, output], axis=-1)
        h = h.astype(self.dtype)
        all_strides = strides(self.n_layers)
        for i, stride in enumerate(all_strides[:-1]):
            width = self.ndf * min(2**i, 8)
            use_bn = i > 0 and self.norm == "batch"
            h = conv.Conv(
                width,
                kernel_size=KERNEL,
                stride=stride,
                padding=1,
                use_bias=not use_bn,
                impl=self.conv_impl,
                kernel_init=KERNEL_INIT,
                bias_init=nn.initializers.zeros,
                name=f"conv{i}",
            )(h)
            if use_bn:
                h = batch_norm(train, f"conv{i}_bn")(h)
            elif i > 0:
                h = instance_norm(self.dtype)(h)
            h = nn.leaky_relu(h, 0.2)
        logits = conv.Conv(
            1,
            kernel_size=KERNEL,
            stride=1,
            padding=1,
            impl=self.conv_impl,
            kernel_init=KERNEL_INIT,
            bias_init=nn.initializers.zeros,
            name="logits",
        )(h)
        return logits[..., 0].astype(jnp.float32)
