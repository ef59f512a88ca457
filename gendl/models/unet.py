"""The pix2pix generator (Isola et al. 2017, sec. 3.2.1 and appendix 6.1.1): a U-Net, an
encoder-decoder whose decoder layer at each resolution also sees the encoder's activations at
that resolution (skip connections by channel concatenation), so low-level structure such as
edges passes straight from input to output.

Level i (0 outermost) halves the size with a 4x4 stride-2 conv of width ngf * min(2^i, 8) and
doubles it back with a 4x4 stride-2 transposed conv. As in the reference code: LeakyReLU(0.2)
before every down conv but the first, ReLU before every up conv, batch norm after every conv
except the first down conv, the innermost down conv and the last up conv (tanh output in
[-1, 1]); no conv biases before batch norm. Dropout 0.5 after the up conv of the inner levels
is the generator's only noise (the paper found input noise z ignored). The reference code
puts dropout on the `levels - 5` levels just above the innermost (1 level at 64x64 with 6
levels, 3 at 256x256 with 8); `dropout_levels` sets that count (tests use it on small nets).

64x64 with 6 levels and ngf 64 is the network of the PyTorch peer (shared/bench/torch_ref.py
`unet64`), parameter for parameter: 29,244,035 parameters.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import conv

MAX_MULT = 8  # widths stop doubling at ngf * 8, as in the reference code
# DCGAN-style initialisation of the reference code: conv weights N(0, 0.02), batch norm
# scales N(1, 0.02), biases 0.
KERNEL_INIT = nn.initializers.normal(0.02)


def scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def batch_norm(train: bool, name: str):
    # momentum 0.9, eps 1e-5: PyTorch's BatchNorm2d defaults, as in the reference code.
    return nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, scale_init=scale_init, name=name
    )


def check_levels(levels: int, height: int, width: int) -> None:
    """A ConfigError unless `levels` halvings of the image leave whole pixels."""
    if height % 2**levels or width % 2**levels:
        raise ConfigError(
            f"A U-Net of config.model.levels={levels} halves the image {levels} times, so the "
            f"{height}x{width} images must have sides divisible by {2**levels}. Resize them "
            f"(config.data.ops 'resize:N') or change config.model.levels (6 for 64x64)."
        )


def reference_dropout_levels(levels: int) -> int:
    return max(levels - 5, 0)


class UNet(nn.Module):
    out_channels: int = 3
    levels: int = 6
    ngf: int = 64
    dropout_levels: int = -1  # -1: the reference code's rule, `levels - 5`
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    def width(self, i: int) -> int:
        return self.ngf * min(2**i, MAX_MULT)

    @nn.compact
    def __call__(self, x, train: bool = True, dropout: bool | None = None):
        """x in [-1, 1], [n, H, W, C] with H and W divisible by 2^levels -> [-1, 1].

        Batch norm uses batch statistics when `train`, running averages otherwise. `dropout`
        (default: `train`) switches the dropout noise on; it draws from the "dropout" rng."""
        dropout = train if dropout is None else dropout
        n_drop = self.dropout_levels
        n_drop = reference_dropout_levels(self.levels) if n_drop < 0 else n_drop
        down = dict(kernel_size=4, stride=2, padding=1, impl=self.conv_impl)
        h, skips = x.astype(self.dtype), []
        for i in range(self.levels):
            if i > 0:
                h = nn.leaky_relu(h, 0.2)
            h = conv.Conv(
                self.width(i), use_bias=False, kernel_init=KERNEL_INIT, name=f"down{i}", **down
            )(h)
            if 0 < i < self.levels - 1:
                h = batch_norm(train, f"down{i}_bn")(h)
            skips.append(h)
        for i in reversed(range(self.levels)):
            if i < self.levels - 1:  # every level but the innermost concatenates its skip
                h = jnp.concatenate([skips[i], h], axis=-1)
            h = nn.relu(h)
            width = self.width(i - 1) if i > 0 else self.out_channels
            layer = conv.ConvTranspose(
                width,
                kernel_size=4,
                stride=2,
                padding=1,
                use_bias=i == 0,
                impl=self.conv_impl,
                kernel_init=KERNEL_INIT,
                bias_init=nn.initializers.zeros,
                name=f"up{i}",
            )
            h = layer(h)
            if i == 0:
                break
            h = batch_norm(train, f"up{i}_bn")(h)
            if self.levels - 1 - n_drop <= i < self.levels - 1:
                h = nn.Dropout(0.5, deterministic=not dropout)(h)
        return jnp.tanh(h.astype(jnp.float32))
