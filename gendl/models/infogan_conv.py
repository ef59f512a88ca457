"""InfoGAN's convolutional networks for MNIST (Chen et al. 2016, appendix C.1, table 1).

Generator: [z, c] -> FC 1024 BN ReLU -> FC (s/4)x(s/4)x2d BN ReLU -> 4x4 up-conv d stride 2
BN ReLU -> 4x4 up-conv (channels) stride 2: pixel logits (the objective applies the sigmoid,
as for the MLP generator; gendl's images lie in [0, 1]).
Discriminator: image rescaled to [-1, 1] -> 4x4 conv d stride 2 lReLU(0.1) -> 4x4 conv 2d
stride 2 BN lReLU -> FC 1024 BN lReLU, the trunk that D's real/fake logit and Q share;
Q: FC 128 BN lReLU -> categorical logits and continuous means (the objective's Q has a fixed
unit variance, as the paper's MNIST code; no log-std output is needed).
With d = 64 these are the paper's widths. Batch norm as in `conv_gan`: the statistics of the
batch given while training (real and fake batches apart), the running averages otherwise.
"""

import flax.linen as nn
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import conv
from gendl.models.conv_gan import _batch_norm

_DOWN = dict(kernel_size=4, stride=2, padding=1)


def _lrelu(h):
    return nn.leaky_relu(h, 0.1)  # the paper's slope, not DCGAN's 0.2


class InfoConvGenerator(nn.Module):
    image_shape: tuple = (28, 28, 1)
    dim: int = 64
    fc: int = 1024

    @nn.compact
    def __call__(self, z, train: bool = True):
        height, width, channels = self.image_shape
        s0 = (height // 4, width // 4)
        # No biases before batch norm: its shift makes them redundant.
        h = nn.Dense(self.fc, use_bias=False, name="fc1")(z)
        h = nn.relu(_batch_norm(train, jnp.float32, "fc1_bn")(h))
        h = nn.Dense(s0[0] * s0[1] * 2 * self.dim, use_bias=False, name="fc2")(h)
        h = nn.relu(_batch_norm(train, jnp.float32, "fc2_bn")(h))
        h = h.reshape(z.shape[0], *s0, 2 * self.dim)
        h = conv.ConvTranspose(self.dim, use_bias=False, name="up1", **_DOWN)(h)
        h = nn.relu(_batch_norm(train, jnp.float32, "up1_bn")(h))
        return conv.ConvTranspose(channels, name="up2", **_DOWN)(h)


class InfoConvDiscriminator(nn.Module):
    """x -> (real/fake logit [n], Q's categorical logits [n, K], Q's continuous means [n, C])."""

    dim: int = 64
    fc: int = 1024
    q_hidden: int = 128
    num_categories: int = 10
    num_continuous: int = 2

    @nn.compact
    def __call__(self, x, train: bool = True):
        h = 2.0 * x - 1.0
        h = _lrelu(conv.Conv(self.dim, name="down1", **_DOWN)(h))
        h = conv.Conv(2 * self.dim, use_bias=False, name="down2", **_DOWN)(h)
        h = _lrelu(_batch_norm(train, jnp.float32, "down2_bn")(h))
        h = nn.Dense(self.fc, use_bias=False, name="fc")(h.reshape(h.shape[0], -1))
        h = _lrelu(_batch_norm(train, jnp.float32, "fc_bn")(h))
        logit = jnp.squeeze(nn.Dense(1, name="logit")(h), -1)
        q = nn.Dense(self.q_hidden, use_bias=False, name="q_hidden")(h)
        q = _lrelu(_batch_norm(train, jnp.float32, "q_hidden_bn")(q))
        cat = nn.Dense(self.num_categories, name="q_categorical")(q)
        cont = nn.Dense(self.num_continuous, name="q_continuous")(q)
        return logit, cat, cont


def build(cfg, image_shape):
    height, width, _ = image_shape
    if height % 4 or width % 4:
        raise ConfigError(
            f"The InfoGAN conv networks halve the image size twice, so its height and width "
            f"must be multiples of 4; the dataset gives {height}x{width}. Use MNIST-sized "
            "images (28x28) or add a resize op to config.data.ops."
        )
    dim, fc = int(cfg.get("dim", 64)), int(cfg.get("fc", 1024))
    return {
        "generator": InfoConvGenerator(tuple(image_shape), dim, fc),
        "discriminator": InfoConvDiscriminator(
            dim,
            fc,
            int(cfg.get("q_hidden", 128)),
            int(cfg.num_categories),
            int(cfg.num_continuous),
        ),
    }
