"""The MLP networks of the semi-supervised GAN on MNIST (Salimans et al. 2016, "Improved
Techniques for Training GANs", code: improved-gan, train_mnist_feature_matching.py).

Generator: z (100, uniform) -> 500 -> 500 softplus with batch norm (no scale) -> 784 sigmoid
with weight normalisation. Discriminator: Gaussian noise (std 0.3) on the input, then
1000-500-250-250-250 ReLU, each followed by Gaussian noise (std 0.5), then 10 logits; every
layer weight-normalised with the scale fixed to 1 except the last layer's, as in the paper's
code. The discriminator returns (logits, features of the last hidden layer), the features
feeding the generator's feature-matching loss.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


class WeightNormDense(nn.Module):
    """Dense layer with weight normalisation (Salimans & Kingma 2016): w = g * v / ||v||.

    `train_scale=False` fixes g at 1 (unit-norm weight columns), as the paper's code does for
    every discriminator layer but the last."""

    features: int
    train_scale: bool = False
    init_stddev: float = 0.1

    @nn.compact
    def __call__(self, x):
        v = self.param("v", nn.initializers.normal(self.init_stddev), (x.shape[-1], self.features))
        w = v / jnp.sqrt(jnp.sum(v * v, axis=0, keepdims=True))
        if self.train_scale:
            w = w * self.param("g", nn.initializers.ones, (self.features,))
        return x @ w + self.param("b", nn.initializers.zeros, (self.features,))


def batch_norm_no_scale(h, eps=1e-4):
    """Batch normalisation with the batch's own statistics and no learnt scale (the paper's
    generator; samples are always drawn in training mode, so no running averages are kept).
    Under a data-parallel mesh the means are over the global batch: 8 devices train like 1."""
    mean = jnp.mean(h, axis=0)
    var = jnp.mean(jnp.square(h - mean), axis=0)
    return (h - mean) * jax.lax.rsqrt(var + eps)


class SganGenerator(nn.Module):
    hidden: tuple = (500, 500)
    image_shape: tuple = (28, 28, 1)

    @nn.compact
    def __call__(self, z):
        h = z
        for i, width in enumerate(self.hidden):
            h = nn.Dense(width, use_bias=False, name=f"hidden{i}")(h)
            h = batch_norm_no_scale(h) + self.param(f"beta{i}", nn.initializers.zeros, (width,))
            h = nn.softplus(h)
        x = WeightNormDense(math.prod(self.image_shape), train_scale=True, name="out")(h)
        return jax.nn.sigmoid(x).reshape(z.shape[0], *self.image_shape)


class SganDiscriminator(nn.Module):
    """x -> (K class logits, last hidden features). Noise is added when `train` is true and
    needs the "noise" rng."""

    hidden: tuple = (1000, 500, 250, 250, 250)
    num_classes: int = 10
    input_noise: float = 0.3
    hidden_noise: float = 0.5

    @nn.compact
    def __call__(self, x, train: bool = False):
        def noisy(h, std):
            if not train or std == 0.0:
                return h
            return h + std * jax.random.normal(self.make_rng("noise"), h.shape, h.dtype)

        h = noisy(x.reshape(x.shape[0], -1), self.input_noise)
        for i, width in enumerate(self.hidden):
            features = nn.relu(WeightNormDense(width, name=f"hidden{i}")(h))
            h = noisy(features, self.hidden_noise)
        logits = WeightNormDense(self.num_classes, train_scale=True, name="logits")(h)
        return logits, features


def build(cfg, image_shape):
    return {
        "generator": SganGenerator(tuple(cfg.gen_hidden), tuple(image_shape)),
        "discriminator": SganDiscriminator(
            tuple(cfg.disc_hidden),
            int(cfg.num_classes),
            float(cfg.input_noise),
            float(cfg.hidden_noise),
        ),
    }
