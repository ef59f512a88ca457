"""StyleGAN2's networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"): the mapping network, the skip generator of modulated/demodulated convolutions
with per-layer noise, and the residual discriminator with minibatch standard deviation.

Generator. z (pixel-normed) -> 8 equalised dense layers at learning rate x0.01 -> w. The
synthesis network starts from a learned 4x4 constant; every resolution has two modulated
3x3 convolutions (the first after a 2x upsampling), each followed by noise (a per-layer
learned strength times N(0, 1) per pixel), a bias and leaky ReLU x sqrt(2), and a modulated
1x1 toRGB (no demodulation) whose image is added to the upsampled image of the resolution
below (the "skip" generator of the paper's figure 7). It takes one w per layer, `ws`
[n, num_ws, w_dim], so two w's can be mixed (style mixing) and w's can be truncated.

Discriminator. fromRGB at the full resolution, then per resolution two 3x3 convolutions
(the second downsampling) with a 1x1 downsampling skip, summed and scaled by sqrt(1/2)
(residual); at 4x4 minibatch stddev, a 3x3 convolution and two dense layers. A conditional
discriminator projects (Miyato & Koyama 2018): score = <features, embed(label)> / sqrt(dim).

Resampling uses the paper's [1, 3, 3, 1] FIR filter. One simplification against the official
code: an upsampling layer upsamples with the filter and then applies a 3x3 convolution,
where the official code fuses a transposed convolution and the filter (the same receptive
field and cost; not bitwise its function). Downsampling follows it: blur, then a stride-2
convolution.

Modulation (section 2.2): s = A(w) (affine, bias 1), w'_ijk = s_i w_ijk, demodulation
w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps). `modulated_conv` computes it three ways
(`MODCONV_MODES`), the same function up to float rounding:
  "grouped":     per-sample weights, one grouped convolution over the whole batch
                 (feature_group_count = batch: the official fused path);
  "einsum":      per-sample weights applied to 3x3 patches by an einsum;
  "activations": x * s, the shared weight's convolution, then * the demodulation factor
                 (the official non-fused path).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gendl.config import ConfigError
from gendl.models import equalized as eq
from gendl.models.progan import num_features, padded_resolution, resolution_levels

MODCONV_MODES = ("activations", "grouped", "einsum")
_SQRT2 = math.sqrt(2.0)
_FIR = np.array([1.0, 3.0, 3.0, 1.0], np.float32)  # numpy: no device array at import


def _act(x):
    """Leaky ReLU 0.2 with StyleGAN2's gain sqrt(2) (its weights use gain 1)."""
    return nn.leaky_relu(x, 0.2) * _SQRT2


def normalize_2nd_moment(x, eps: float = 1e-8):
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


# --- FIR resampling (the [1, 3, 3, 1] filter, per channel).


def _fir(x, pad: tuple, gain: float = 1.0, stride: int = 1):
    """Per-channel filtering of NHWC x by outer([1,3,3,1]) (normalised, times `gain`) after
    zero-padding both spatial axes by `pad` = (lo, hi), keeping every `stride`-th output.

    Separable, as four shifted and scaled slices per axis. The same filter as a depthwise
    convolution (feature_group_count = channels) runs on XLA:CPU's generic loop emitter:
    5-40x slower forward, gradient and second derivative (R1 differentiates the
    discriminator's downsampling twice) at batch 32 x 32x32 x 64 channels. Pads and slices stay
    cheap in every derivative order. tests/test_stylegan2.py proves this equal to the
    depthwise convolution in outputs and first and second derivatives.
    """
    taps = _FIR / np.sum(_FIR)
    x = jnp.pad(x, ((0, 0), pad, pad, (0, 0)))
    for axis, scale in ((1, gain), (2, 1.0)):
        limit = (x.shape[axis] - len(taps)) // stride * stride + 1  # span of the kept outputs
        terms = [
            jax.lax.slice_in_dim(x, t, t + limit, stride, axis) * float(f * scale)
            for t, f in enumerate(taps)
        ]
        x = terms[0] + terms[1] + terms[2] + terms[3]
    return x


def upsample2d(x):
    """2x upsampling: zeros between the pixels, then the filter at gain 4 (upfirdn2d, up=2)."""
    zero = jnp.zeros((), x.dtype)
    up = jax.lax.pad(x, zero, ((0, 0, 0), (0, 1, 1), (0, 1, 1), (0, 0, 0)))  # x at even pixels
    return _fir(up, (2, 1), gain=4.0)


def downsample2d(x):
    """2x downsampling: the filter, every second pixel (upfirdn2d, down=2)."""
    return _fir(x, (1, 1), stride=2)


def blur_for_strided_conv(x):
    """The filter with the padding that makes a following 3x3 stride-2 'VALID' convolution
    return half the size (the official conv2d_resample's down=2 path)."""
    return _fir(x, (2, 2))


# --- Modulated convolution.


def modulated_conv(x, weight, styles, demodulate: bool = True, mode: str = "activations"):
    """Per-sample convolution of x [n, H, W, cin] with weight [k, k, cin, cout] modulated by
    styles [n, cin] (and demodulated); 'SAME' padding, stride 1. See the module docstring."""
    n, h, w, cin = x.shape
    k, cout = weight.shape[0], weight.shape[-1]
    styles = styles.astype(x.dtype)
    per_sample = weight[None] * styles[:, None, None, :, None]  # [n, k, k, cin, cout]
    if demodulate:
        d = jax.lax.rsqrt(jnp.sum(jnp.square(per_sample), axis=(1, 2, 3)) + 1e-8)  # [n, cout]
    conv = lambda a, b, **kw: jax.lax.conv_general_dilated(
        a, b, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), **kw
    )
    if mode == "activations":
        y = conv(x * styles[:, None, None, :], weight)
        return y * d[:, None, None, :] if demodulate else y
    if demodulate:
        per_sample = per_sample * d[:, None, None, None, :]
    if mode == "grouped":
        xs = x.transpose(1, 2, 0, 3).reshape(1, h, w, n * cin)
        ws = per_sample.transpose(1, 2, 3, 0, 4).reshape(k, k, cin, n * cout)
        y = conv(xs, ws, feature_group_count=n)
        return y.reshape(h, w, n, cout).transpose(2, 0, 1, 3)
    if mode == "einsum":
        patches = jax.lax.conv_general_dilated_patches(
            x, (k, k), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )  # [n, H, W, cin * k * k], channel-major
        kernel = per_sample.transpose(0, 3, 1, 2, 4).reshape(n, cin * k * k, cout)
        return jnp.einsum("nhwp,npo->nhwo", patches, kernel)
    raise ConfigError(f"config.model.modconv={mode!r}; use one of {', '.join(MODCONV_MODES)}.")


class ModulatedConv(nn.Module):
    """A modulated (and demodulated) convolution with its affine A(w), noise, bias and act."""

    features: int
    kernel_size: int = 3
    demodulate: bool = True
    up: bool = False
    noise: bool = True
    activate: bool = True
    mode: str = "activations"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, w, noise=None):
        """`noise` [n or 1, H, W, 1] (N(0, 1), at the output's size) when the layer has one."""
        cin, k = x.shape[-1], self.kernel_size
        styles = eq.EqualizedDense(cin, gain=1.0, bias_init=1.0, name="affine")(w)
        weight = self.param("kernel", nn.initializers.normal(1.0), (k, k, cin, self.features))
        weight = weight * eq.weight_scale(k * k * cin, gain=1.0)
        x = jnp.asarray(x, self.dtype)
        if self.up:
            x = upsample2d(x)
        y = modulated_conv(x, weight.astype(self.dtype), styles, self.demodulate, self.mode)
        if self.noise:
            strength = self.param("noise_strength", nn.initializers.zeros, ())
            y = y + (noise * strength).astype(y.dtype)
        y = eq.add_bias(
            y, self.param("bias", nn.initializers.zeros, (self.features,)).astype(y.dtype)
        )
        return _act(y) if self.activate else y


# --- The generator.


class Mapping(nn.Module):
    w_dim: int = 512
    num_layers: int = 8
    lr_multiplier: float = 0.01
    num_classes: int = 0

    @nn.compact
    def __call__(self, z, labels=None):
        x = normalize_2nd_moment(jnp.asarray(z, jnp.float32))
        if self.num_classes:  # the label's embedding joins z (both normalised)
            onehot = jax.nn.one_hot(labels, self.num_classes)
            y = eq.EqualizedDense(self.w_dim, gain=1.0, name="embed")(onehot)
            x = jnp.concatenate([x, normalize_2nd_moment(y)], axis=-1)
        for i in range(self.num_layers):
            dense = eq.EqualizedDense(
                self.w_dim, gain=1.0, lr_multiplier=self.lr_multiplier, name=f"fc{i}"
            )
            x = _act(dense(x))
        return x


def const_noise_map(i, size):
    """Noise layer i's fixed map [1, size, size, 1] (sampling without a noise key)."""
    return jax.random.normal(jax.random.fold_in(jax.random.key(0), i), (1, size, size, 1))


def const_noise(resolution):
    """The fixed maps of every noise layer of a generator of `resolution`, in layer order:
    the 4x4 convolution's, then two per doubling (both at that resolution)."""
    sizes = [4] + [2**level for level in range(3, resolution_levels(resolution) + 1) for _ in "ab"]
    return tuple(const_noise_map(i, size) for i, size in enumerate(sizes))


class Synthesis(nn.Module):
    resolution: int = 32
    channels: int = 1
    fmap_base: int = 1024
    fmap_max: int = 256
    mode: str = "activations"
    dtype: jnp.dtype = jnp.float32

    @property
    def num_ws(self) -> int:
        """One w per layer: 4x4 conv and toRGB, then two convs per doubling; the toRGB of
        a resolution shares its w with the next resolution's first conv (as the official)."""
        return 2 * resolution_levels(self.resolution) - 2

    @nn.compact
    def __call__(self, ws, noise_key=None, noises=None):
        """`noises`: given per-layer noise maps (`const_noise`'s shapes; the projector
        optimises them) in place of the drawn ones."""
        top = resolution_levels(self.resolution)
        nf = lambda level: num_features(level - 1, self.fmap_base, self.fmap_max)
        n = ws.shape[0]

        def noise(i, size):
            """Layer i's noise: fresh per sample in training (noise_key), else one fixed draw
            per layer (the official generate.py's noise_mode="const": an image per latent)."""
            if noises is not None:
                return noises[i]
            if noise_key is None:
                return const_noise_map(i, size)
            return jax.random.normal(jax.random.fold_in(noise_key, i), (n, size, size, 1))

        mod = lambda n, name, **kw: ModulatedConv(
            n, mode=self.mode, dtype=self.dtype, name=name, **kw
        )
        rgb = dict(kernel_size=1, demodulate=False, noise=False, activate=False)
        to_rgb = lambda name: mod(self.channels, name, **rgb)
        const = self.param("const", nn.initializers.normal(1.0), (4, 4, nf(2)))
        x = jnp.broadcast_to(const.astype(self.dtype), (n, 4, 4, nf(2)))
        x = mod(nf(2), "conv_4")(x, ws[:, 0], noise(0, 4))
        img = to_rgb("to_rgb_4")(x, ws[:, 1])
        for level in range(3, top + 1):
            r, i = 2**level, 2 * level - 5  # this resolution's first w
            x = mod(nf(level), f"conv0_{r}", up=True)(x, ws[:, i], noise(i, r))
            x = mod(nf(level), f"conv1_{r}")(x, ws[:, i + 1], noise(i + 1, r))
            img = upsample2d(img) + to_rgb(f"to_rgb_{r}")(x, ws[:, i + 2])
        return jnp.asarray(img, jnp.float32)


class Generator(nn.Module):
    """mapping (z, labels) -> w; synthesis (ws [n, num_ws, w_dim], noise key) -> images in
    about [-1, 1]. `__call__` chains them with one w for every layer."""

    resolution: int = 32
    channels: int = 1
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    num_classes: int = 0
    fmap_base: int = 1024
    fmap_max: int = 256
    mode: str = "activations"
    dtype: jnp.dtype = jnp.float32

    def setup(self):
        self.mapping = Mapping(
            self.w_dim, self.mapping_layers, self.mapping_lr_multiplier, self.num_classes
        )
        self.synthesis = Synthesis(
            self.resolution, self.channels, self.fmap_base, self.fmap_max, self.mode, self.dtype
        )

    @property
    def num_ws(self) -> int:
        return 2 * resolution_levels(self.resolution) - 2

    def map(self, z, labels=None):
        return self.mapping(z, labels)

    def synthesize(self, ws, noise_key=None, noises=None):
        return self.synthesis(ws, noise_key, noises)

    def __call__(self, z, labels=None, noise_key=None):
        w = self.mapping(z, labels)
        ws = jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, w.shape[-1]))
        return self.synthesis(ws, noise_key)


# --- The discriminator.


class Discriminator(nn.Module):
    resolution: int = 32
    fmap_base: int = 1024
    fmap_max: int = 256
    mbstd_group_size: int = 4
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, images, labels=None):
        """Scores [n] (logits) of images in [-1, 1] at the full resolution."""
        top = resolution_levels(self.resolution)
        nf = lambda level: num_features(level - 1, self.fmap_base, self.fmap_max)
        conv = lambda n, k, name, **kw: eq.EqualizedConv(
            n, k, gain=1.0, dtype=self.dtype, name=name, **kw
        )
        x = _act(conv(nf(top), 1, f"from_rgb_{2**top}")(jnp.asarray(images, self.dtype)))
        for level in range(top, 2, -1):
            r = 2**level
            skip = conv(nf(level - 1), 1, f"skip_{r}", use_bias=False)(downsample2d(x))
            y = _act(conv(nf(level), 3, f"conv0_{r}")(x))
            y = blur_for_strided_conv(y)
            y = _act(conv(nf(level - 1), 3, f"conv1_{r}", stride=2, padding="VALID")(y))
            x = (skip + y) * math.sqrt(0.5)
        x = eq.minibatch_stddev(x, self.mbstd_group_size)
        x = _act(conv(nf(2), 3, "conv_4")(x))
        x = _act(eq.EqualizedDense(nf(2), gain=1.0, name="fc")(x.reshape(x.shape[0], -1)))
        if not self.num_classes:
            return jnp.asarray(eq.EqualizedDense(1, gain=1.0, name="out")(x), jnp.float32)[:, 0]
        # Projection: the score is the features' inner product with the label's embedding.
        cmap_dim = nf(2)
        h = eq.EqualizedDense(cmap_dim, gain=1.0, name="out")(x)
        cmap = eq.EqualizedDense(cmap_dim, gain=1.0, name="embed")(
            jax.nn.one_hot(labels, self.num_classes)
        )
        score = jnp.sum(h * cmap, axis=-1) / math.sqrt(cmap_dim)
        return jnp.asarray(score, jnp.float32)


def build(cfg, image_shape):
    """{generator, discriminator} for images of `image_shape` (smaller ones are padded to
    config.model.resolution; 0: the smallest power of two holding them)."""
    channels = image_shape[-1]
    resolution = padded_resolution(cfg, image_shape)
    mode = str(cfg.get("modconv", "activations"))
    if mode not in MODCONV_MODES:
        raise ConfigError(f"config.model.modconv={mode!r}; use one of {', '.join(MODCONV_MODES)}.")
    dtype = jnp.dtype(cfg.get("dtype", "float32"))
    widths = dict(fmap_base=int(cfg.fmap_base), fmap_max=int(cfg.fmap_max))
    num_classes = int(cfg.get("num_classes", 0))
    return {
        "generator": Generator(
            resolution=resolution,
            channels=channels,
            w_dim=int(cfg.w_dim),
            mapping_layers=int(cfg.mapping_layers),
            mapping_lr_multiplier=float(cfg.mapping_lr_multiplier),
            num_classes=num_classes,
            mode=mode,
            dtype=dtype,
            **widths,
        ),
        "discriminator": Discriminator(
            resolution=resolution,
            mbstd_group_size=int(cfg.mbstd_group_size),
            num_classes=num_classes,
            dtype=dtype,
            **widths,
        ),
    }
