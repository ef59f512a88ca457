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
    """Dense layer with weight normalisation (Salimans & Kingma 2016): y = g * (x . v/||v||) + b.

    Data-dependent initialisation, as in the paper's code: g and b are set from the batch the
    network is initialised on so that every unit's pre-activation has zero mean and unit
    variance there. `train_scale=False` then keeps g at that value (the paper's code trains
    the scale of the last discriminator layer only)."""

    features: int
    train_scale: bool = False
    data_init: bool = True  # False: g = 1, b = 0 (the paper's generator output layer)
    init_stddev: float = 0.1

    @nn.compact
    def __call__(self, x):
        v = self.param("v", nn.initializers.normal(self.init_stddev), (x.shape[-1], self.features))
        t = x @ (v / jnp.sqrt(jnp.sum(v * v, axis=0, keepdims=True)))
        mean, inv_std = jnp.zeros(self.features), jnp.ones(self.features)
        if self.data_init and self.is_initializing():
            mean = jnp.mean(t, axis=0)
            inv_std = jax.lax.rsqrt(jnp.mean(jnp.square(t - mean), axis=0) + 1e-8)
        g = self.param("g", lambda *_: inv_std)
        b = self.param("b", lambda *_: -mean * inv_std)
        if not self.train_scale:
            g = jax.lax.stop_gradient(g)  # a zero gradient: Adam leaves it where it is
        return t * g + b


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
        x = WeightNormDense(
            math.prod(self.image_shape), train_scale=True, data_init=False, name="out"
        )(h)
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
