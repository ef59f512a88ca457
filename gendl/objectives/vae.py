"""Variational autoencoder objective: the negative ELBO with a Bernoulli decoder.

loss = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)), per example, averaged over the
batch; the reparameterisation trick gives the gradient. beta=1 is the VAE of Kingma &
Welling (2014); beta>1 the beta-VAE of Higgins et al. (2017).
"""

import jax
import jax.numpy as jnp
import optax

from gendl.objectives import base


def gaussian_kl(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)) per example, summed over latent dims."""
    return -0.5 * jnp.sum(1.0 + logvar - mean**2 - jnp.exp(logvar), axis=-1)


def bernoulli_nll(logits, x):
    """-log p(x|logits) per example, summed over pixels; x may be grey levels in [0, 1]."""
    flat = lambda a: a.reshape(a.shape[0], -1)
    return jnp.sum(optax.sigmoid_binary_cross_entropy(flat(logits), flat(x)), axis=-1)


class Vae(base.Objective):
    def __init__(self, config, networks, image_shape):
        super().__init__(config, networks, image_shape)
        self.vae = networks["vae"]
        self.beta = float(config.objective.beta)
        self.latent_dim = int(config.model.latent_dim)

    def init(self, rng):
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        eps = jnp.zeros((1, self.latent_dim), jnp.float32)
        return base.init_networks(self.networks, rng, {"vae": (x, eps)})

    def sample_noise(self, rng, n):
        return jax.random.normal(rng, (n, self.latent_dim))

    def sample(self, params, noise):
        logits = self.vae.apply({"params": params["vae"]}, noise, method="decode")
        return jax.nn.sigmoid(logits)

    def loss(self, params, x, eps):
        logits, mean, logvar = self.vae.apply({"params": params}, x, eps)
        rec = bernoulli_nll(logits, x)
        kl = gaussian_kl(mean, logvar)
        loss = jnp.mean(rec + self.beta * kl)
        return loss, {
            "loss/vae": loss,
            "reconstruction": jnp.mean(rec),
            "kl": jnp.mean(kl),
            "elbo": -jnp.mean(rec + kl),
        }

    def update(self, params, opt_state, optimizers, batch, rng):
        x = batch["image"][0]  # one real batch per step
        eps = jax.random.normal(rng, (x.shape[0], self.latent_dim))
        grads, metrics = jax.grad(self.loss, has_aux=True)(params["vae"], x, eps)
        p, o, norms = base.apply_gradients(
            optimizers["vae"], params["vae"], opt_state["vae"], grads, "vae"
        )
        return {"vae": p}, {"vae": o}, {**metrics, **norms}
