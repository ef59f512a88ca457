"""The CycleGAN generator (Zhu et al. 2017, appendix 7.2; Johnson et al. 2016's
image-transformation network): an encoder of two stride-2 convolutions, residual blocks at a
quarter of the resolution, and a decoder of two stride-1/2 (transposed) convolutions.

In the paper's notation, with 6 residual blocks (images of 128 px or less; 9 at 256 px):
    c7s1-64, d128, d256, R256 x 6, u128, u64, c7s1-3
c7s1-k: 7x7 conv of k filters, stride 1, after a reflection pad of 3; dk: 3x3 conv of k
filters, stride 2; Rk: two 3x3 convs of k filters (reflection pad 1 each) with the input added;
uk: 3x3 transposed conv of k filters, stride 1/2 (stride 2, padding 1, output padding 1, as in
the reference code, so the size exactly doubles). Instance normalisation (without learned
scale and shift, the reference code's default) and ReLU after every conv but the last, which
ends in tanh. The convolutions have biases (the norm has no shift) and start from N(0, 0.02),
the reference code's initialisation. Instance norm keeps no running statistics, so the
network has parameters only, and it translates the same at any batch size.

64 filters, 6 blocks and RGB in and out: 7,837,699 parameters (`parameter_count`).
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gendl.models import conv
from gendl.models.unet import KERNEL_INIT

N_DOWNSAMPLING = 2


def instance_norm(dtype, name=None):
    # PyTorch's InstanceNorm2d defaults (the reference code): eps 1e-5, no affine parameters.
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, dtype=dtype, name=name)


def reflect(x, pad: int):
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def parameter_count(in_channels=3, out_channels=3, ngf=64, n_blocks=6) -> int:
    """The number of parameters, counted by hand from the layer list (kernels and biases)."""

    def conv_params(k, c_in, c_out):
        return k * k * c_in * c_out + c_out

    total = conv_params(7, in_channels, ngf)
    for i in range(N_DOWNSAMPLING):
        total += conv_params(3, ngf * 2**i, ngf * 2 ** (i + 1))
    width = ngf * 2**N_DOWNSAMPLING
    total += n_blocks * 2 * conv_params(3, width, width)
    for i in reversed(range(N_DOWNSAMPLING)):
        total += conv_params(3, ngf * 2 ** (i + 1), ngf * 2**i)
    return total + conv_params(7, ngf, out_channels)


class ResnetGenerator(nn.Module):
    out_channels: int = 3
    ngf: int = 64
    n_blocks: int = 6
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    def _conv(self, features, kernel, stride, padding, name):
        return conv.Conv(
            features,
            kernel_size=kernel,
            stride=stride,
            padding=padding,
            impl=self.conv_impl,
            kernel_init=KERNEL_INIT,
            bias_init=nn.initializers.zeros,
            name=name,
        )

    @nn.compact
    def __call__(self, x, train: bool = True):
        """x in [-1, 1], [n, H, W, C] with H and W divisible by 4 -> [-1, 1], [n, H, W, out].
        `train` is accepted for a uniform network interface; instance norm has no mode."""
        del train
        h = self._conv(self.ngf, 7, 1, 0, "c7s1_in")(reflect(x.astype(self.dtype), 3))
        h = nn.relu(instance_norm(self.dtype)(h))
        for i in range(N_DOWNSAMPLING):
            h = self._conv(self.ngf * 2 ** (i + 1), 3, 2, 1, f"down{i}")(h)
            h = nn.relu(instance_norm(self.dtype)(h))
        width = self.ngf * 2**N_DOWNSAMPLING
        for i in range(self.n_blocks):
            r = self._conv(width, 3, 1, 0, f"block{i}_conv0")(reflect(h, 1))
            r = nn.relu(instance_norm(self.dtype)(r))
            r = self._conv(width, 3, 1, 0, f"block{i}_conv1")(reflect(r, 1))
            h = h + instance_norm(self.dtype)(r)
        for i in reversed(range(N_DOWNSAMPLING)):
            h = conv.ConvTranspose(
                self.ngf * 2**i,
                kernel_size=3,
                stride=2,
                padding=1,
                output_padding=1,
                impl=self.conv_impl,
                kernel_init=KERNEL_INIT,
                bias_init=nn.initializers.zeros,
                name=f"up{i}",
            )(h)
            h = nn.relu(instance_norm(self.dtype)(h))
        h = self._conv(self.out_channels, 7, 1, 0, "c7s1_out")(reflect(h, 3))
        return jnp.tanh(h.astype(jnp.float32))
