"""The Inception-v3 of the FID protocol in Flax, and its input pipeline.

The network is the 2015 TensorFlow Inception graph as pytorch-fid rebuilds it from
torchvision's Inception3 ("FIDInceptionA/C/E"): the average pools of the A, C and E blocks do
not count the zero padding (TensorFlow's), the last E block pools its pool branch with a
max-pool (a quirk of that graph), batch norm runs in inference mode with eps=1e-3, and the
classifier has 1008 outputs. Module names follow torchvision's attribute names, so a PyTorch
tensor name is the Flax path joined with dots (see `weights.py`).

Layout is NHWC (Flax's); convolution kernels are HWIO.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

INPUT_SIZE = 299
POOL3_DIM = 2048
NUM_LOGITS = 1008

# Pinned so features do not depend on the backend's default (e.g. TF32 convolutions on
# NVIDIA GPUs): the protocol is float32 arithmetic.
PRECISION = jax.lax.Precision.HIGHEST


def _pads(padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return ((ph, ph), (pw, pw))


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps=1e-3, running statistics), ReLU."""

    features: int
    kernel_size: Sequence[int]
    strides: int = 1
    padding: int | Sequence[int] = 0

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(
            self.features,
            tuple(self.kernel_size),
            strides=(self.strides, self.strides),
            padding=_pads(self.padding),
            use_bias=False,
            precision=PRECISION,
            name="conv",
        )(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _avg_pool_3x3(x):
    # TensorFlow's average pool divides by the number of real (unpadded) inputs.
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=_pads(1), count_include_pad=False)


def _max_pool_3x3_stride2(x):
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv2d(64, (5, 5), padding=2, name="branch5x5_2")(b5)
        b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_2")(b3)
        b3 = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_3")(b3)
        bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, (3, 3), strides=2, name="branch3x3")(x)
        bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_3x3_stride2(x)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv2d(320, (3, 3), strides=2, name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool_3x3_stride2(x)], axis=-1)


class InceptionE(nn.Module):
    """`max_pool`: the 2015 graph's last block (Mixed_7c) max-pools its pool branch."""

    max_pool: bool = False

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate(
            [
                BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
            ],
            axis=-1,
        )
        bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, (3, 3), padding=1, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate(
            [
                BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
            ],
            axis=-1,
        )
        if self.max_pool:
            pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=_pads(1))
        else:
            pooled = _avg_pool_3x3(x)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
    """Inputs in [-1, 1], NHWC, 299x299 (any size >= 75 runs) -> (pool3 [N, 2048],
    logits [N, 1008])."""

    @nn.compact
    def __call__(self, x):
        x = BasicConv2d(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv2d(64, (3, 3), padding=1, name="Conv2d_2b_3x3")(x)
        x = _max_pool_3x3_stride2(x)
        x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool_3x3_stride2(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        x = InceptionC(128, name="Mixed_6b")(x)
        x = InceptionC(160, name="Mixed_6c")(x)
        x = InceptionC(160, name="Mixed_6d")(x)
        x = InceptionC(192, name="Mixed_6e")(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(name="Mixed_7b")(x)
        x = InceptionE(max_pool=True, name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(NUM_LOGITS, precision=PRECISION, name="fc")(pool3)
        return pool3, logits


def resize_bilinear(x, size: int = INPUT_SIZE):
    """[N, H, W, C] float -> [N, size, size, C], as F.interpolate(mode="bilinear",
    align_corners=False) in pytorch-fid: half-pixel centres, edges clamped, no antialiasing
    when downsampling. jax.image.resize with antialias=False is that rule; measured against
    torch 2.13 on CPU it agrees to 2e-7 on [0, 1] images (28x33, 64x48, 320x310, 512x512)."""
    n, h, w, c = x.shape
    if (h, w) == (size, size):
        return x
    return jax.image.resize(x, (n, size, size, c), "linear", antialias=False, precision=PRECISION)


def preprocess(images):
    """uint8 images in [0, 255] or float images in [0, 1], [N, H, W, C] with C = 1 or 3
    -> float32 [N, 299, 299, 3] in [-1, 1] (grey repeated to RGB, resized, rescaled)."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"Inception features need images shaped [N, H, W, C] with C = 1 (grey) or 3 "
            f"(RGB), got shape {images.shape}. Add a trailing channel axis to grey images."
        )
    if jnp.issubdtype(images.dtype, jnp.integer):
        x = images.astype(jnp.float32) / 255.0
    else:
        x = images.astype(jnp.float32)
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    x = resize_bilinear(x)
    return 2.0 * x - 1.0


@jax.jit
def features(variables, images):
    """(pool3 [N, 2048], logits [N, 1008]) of a batch of images (see `preprocess` for the
    accepted inputs). The logits include the classifier's bias, as torchvision's `fc` does;
    the original Inception Score code used pool3 @ W without it (`logits_without_bias`)."""
    return InceptionV3().apply(variables, preprocess(images))


def logits_without_bias(variables, pool3):
    """pool3 @ W of the 1008-way classifier: the logits of the original Inception Score code
    (Salimans et al. 2016, which read the weight matrix of the graph's softmax/logits/MatMul)."""
    return jnp.dot(pool3, variables["params"]["fc"]["kernel"], precision=PRECISION)


def init_shapes():
    """The variables' shapes and dtypes (jax.ShapeDtypeStruct), without computing anything."""
    x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    return jax.eval_shape(InceptionV3().init, jax.random.key(0), x)
