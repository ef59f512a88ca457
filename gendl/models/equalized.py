"""Layers of the Karras et al. GANs (ProGAN 2018, StyleGAN 2019/2020): equalised learning
rate, pixel norm, minibatch standard deviation, and the 2x resampling between resolutions.

Equalised learning rate (ProGAN section 4.1): weights are stored as N(0, 1) draws and scaled
at run time by He's constant gain / sqrt(fan_in), so Adam, whose steps are invariant to a
parameter's scale, moves every layer at the same relative speed. `lr_multiplier` (StyleGAN's
mapping network uses 0.01) stores the weight as N(0, 1/m^2) and scales it by m at run time:
the function at initialisation is unchanged, and Adam's steps on the stored weight become
steps m times smaller on the effective one. The bias is treated the same way.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.models import conv

HE_GAIN = math.sqrt(2.0)  # for layers followed by a (leaky) ReLU


def weight_scale(fan_in: int, gain: float = HE_GAIN, lr_multiplier: float = 1.0) -> float:
    """The run-time factor of an equalised weight: gain / sqrt(fan_in) * lr_multiplier."""
    return gain / math.sqrt(fan_in) * lr_multiplier


def _stored_init(lr_multiplier: float):
    return nn.initializers.normal(stddev=1.0 / lr_multiplier)


class EqualizedDense(nn.Module):
    """y = x @ (w * weight_scale) + b * lr_multiplier, w ~ N(0, 1/lr_multiplier^2)."""

    features: int
    gain: float = HE_GAIN
    lr_multiplier: float = 1.0
    use_bias: bool = True
    bias_init: float = 0.0  # the effective bias at initialisation
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        w = self.param("kernel", _stored_init(self.lr_multiplier), (fan_in, self.features))
        scale = weight_scale(fan_in, self.gain, self.lr_multiplier)
        y = jnp.asarray(x, self.dtype) @ jnp.asarray(w * scale, self.dtype)
        if self.use_bias:
            b = self.param(
                "bias",
                nn.initializers.constant(self.bias_init / self.lr_multiplier),
                (self.features,),
            )
            y = y + jnp.asarray(b * self.lr_multiplier, self.dtype)
        return y


@jax.custom_vjp
def add_bias(y, b):
    """y + b over the last axis, whose bias gradient reduces a materialised dy."""
    return y + b


def _add_bias_fwd(y, b):
    return y + b, None


def _add_bias_bwd(_, dy):
    # Summed by a matrix-vector product: XLA fuses a reduction with dy's producer (the
    # transposed resampling and activation of the layer above), and XLA:CPU then ran that
    # fused reduction over all but the channel axis at ~100 ms for a 32x32x32x64 dy that a
    # plain reduction sums in 0.5 ms. A dot is never fused, so dy becomes a buffer first.
    rows = dy.reshape(-1, dy.shape[-1])
    return dy, jnp.ones((rows.shape[0],), dy.dtype) @ rows


add_bias.defvjp(_add_bias_fwd, _add_bias_bwd)


class EqualizedConv(nn.Module):
    """A convolution (NHWC, kernel HWIO) with an equalised weight; stride 1 and 'SAME' padding
    unless told (StyleGAN2's downsampling convolutions: stride 2, 'VALID' after a blur)."""

    features: int
    kernel_size: int = 3
    gain: float = HE_GAIN
    lr_multiplier: float = 1.0
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32
    stride: int = 1
    padding: str = "SAME"

    @nn.compact
    def __call__(self, x):
        k, fan_in = self.kernel_size, self.kernel_size**2 * x.shape[-1]
        w = self.param(
            "kernel", _stored_init(self.lr_multiplier), (k, k, x.shape[-1], self.features)
        )
        scale = weight_scale(fan_in, self.gain, self.lr_multiplier)
        x, w = jnp.asarray(x, self.dtype), jnp.asarray(w * scale, self.dtype)
        if self.stride > 1 and self.padding == "VALID":
            # The native forward, with the input gradient (an input-dilated convolution, which
            # XLA:CPU runs 10-50x slower than a plain one) through conv.py's exact phase
            # decomposition: StyleGAN2's downsampling convs, and R1 differentiates them twice.
            y = conv.conv2d(x, w, self.stride, 0, impl="mixed")
        else:
            y = jax.lax.conv_general_dilated(
                x,
                w,
                window_strides=(self.stride, self.stride),
                padding=self.padding,
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
        if self.use_bias:
            b = self.param("bias", nn.initializers.zeros, (self.features,))
            y = add_bias(y, jnp.asarray(b * self.lr_multiplier, self.dtype))
        return y


def pixel_norm(x, eps: float = 1e-8):
    """Each pixel's feature vector divided by its root mean square (ProGAN section 4.2)."""
    x32 = jnp.asarray(x, jnp.float32)
    out = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + eps)
    return out.astype(x.dtype)


def minibatch_stddev(x, group_size: int = 4, num_features: int = 1):
    """Appends `num_features` channels holding, per group of `group_size` samples, the mean
    over pixels and channels of the features' standard deviation across the group (ProGAN
    section 3; StyleGAN2 uses num_features=1 too). The channels are split into
    `num_features` parts, one statistic each. Group g holds samples g, g + B/group_size, ...
    (the strided grouping of the official code), and the batch must divide into groups."""
    n, h, w, c = x.shape
    g = min(group_size, n)
    if n % g or c % num_features:
        raise ValueError(
            f"minibatch_stddev: batch {n} must divide by the group size {g} and channels {c} "
            f"by num_features {num_features}."
        )
    y = jnp.asarray(x, jnp.float32).reshape(g, n // g, h, w, num_features, c // num_features)
    y = y - jnp.mean(y, axis=0)
    std = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)  # [n/g, h, w, f, c/f]
    stat = jnp.mean(std, axis=(1, 2, 4))  # [n/g, f]
    stat = jnp.tile(stat, (g, 1))  # sample i belongs to group i % (n/g)
    stat = jnp.broadcast_to(stat[:, None, None, :], (n, h, w, num_features))
    return jnp.concatenate([x, stat.astype(x.dtype)], axis=-1)


def upscale2d(x, factor: int = 2):
    """Nearest-neighbour upsampling of NHWC images."""
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def downscale2d(x, factor: int = 2):
    """Average pooling by `factor` (the official code's box filter)."""
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def lerp(a, b, t):
    """a + (b - a) * t: a at t = 0, b at t = 1 (the fade-in blend)."""
    return a + (b - a) * t
