"""Variational autoencoders: VAE (Kingma & Welling 2014), beta-VAE with KL warm-up (Higgins
et al. 2017; warm-up as in Sønderby et al. 2016), conditional VAE (Sohn et al. 2015) and the
importance-weighted autoencoder (IWAE, Burda et al. 2015).

objective.bound = "elbo": loss = E_q[-log p(x|z)] + beta_t * KL(q(z|x) || N(0, I)), the KL in
closed form, averaged over `num_samples` draws of z. beta_t = beta * min(1, step/warmup).
objective.bound = "iwae": loss = -log (1/k) sum_j p(x, z_j) / q(z_j|x), k = num_samples.
"""

import jax
import jax.numpy as jnp
import optax

from gendl.config import ConfigError
from gendl.evaluation import likelihood
from gendl.objectives import base


def gaussian_kl(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)) per example, summed over latent dims."""
    return -0.5 * jnp.sum(1.0 + logvar - mean**2 - jnp.exp(logvar), axis=-1)


def bernoulli_nll(logits, x):
    """-log p(x|logits) per example, summed over pixels; x may be grey levels in [0, 1]."""
    flat = lambda a: a.reshape(a.shape[0], -1)
    return jnp.sum(optax.sigmoid_binary_cross_entropy(flat(logits), flat(x)), axis=-1)


class Vae(base.Objective):
    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        self.vae = networks["vae"]
        cfg = config.objective
        self.beta = float(cfg.beta)
        self.warmup = int(cfg.get("kl_warmup_steps", 0))
        self.num_samples = int(cfg.get("num_samples", 1))
        self.bound = cfg.get("bound", "elbo")
        self.latent_dim = int(config.model.latent_dim)
        self.conditional = bool(config.model.get("num_classes", 0))
        if self.bound not in ("elbo", "iwae"):
            raise ConfigError(
                f"config.objective.bound must be 'elbo' or 'iwae', got {self.bound!r}."
            )
        if self.bound == "iwae" and (self.beta != 1.0 or self.warmup):
            raise ConfigError("The IWAE bound has no KL term to weight: use beta=1, no warm-up.")

    # --- pieces evaluators and pictures use
    # The methods below take `variables` ({"vae": flax variables}), as evaluators pass them.
    def _apply(self, variables, method, *args):
        return self.vae.apply(variables["vae"], *args, method=method)

    def _labels(self, batch_or_labels):
        return batch_or_labels if self.conditional else None

    def encode(self, params, x, labels=None):
        """Mean and log-variance of q(z|x)."""
        return self._apply(params, "encode", x, self._labels(labels))

    def decode_mean(self, params, z, labels=None):
        """The decoder's mean image in [0, 1]."""
        out = self._apply(params, "decode", z, self._labels(labels))
        return jax.nn.sigmoid(out) if not isinstance(out, tuple) else out[0]

    def log_likelihood(self, params, z, x, labels=None):
        """log p(x|z) per example."""
        out = self._apply(params, "decode", z, self._labels(labels))
        if isinstance(out, tuple):
            return likelihood.gaussian_log_prob(x, *out)
        # optax's form evaluates one softplus per pixel where log_prob's symmetric form takes
        # two: a quarter of the MLP VAE's step time on CPU. Same value (tested).
        return -bernoulli_nll(out, x)

    def log_weights(self, params, x, labels, rng, n):
        """log p(x, z_j) - log q(z_j|x) for n fresh z_j per example: [batch, n]."""
        # The decoder sees the batch repeated n times, so the labels are repeated alike.
        rep_labels = None if labels is None else jnp.repeat(labels, n, axis=0)
        log_weights_fn = likelihood.vae_log_weights(
            lambda p, x: self.encode(p, x, labels),
            lambda p, z, x: self.log_likelihood(p, z, x, rep_labels),
        )
        return log_weights_fn(params, x, rng, n)

    def elbo(self, params, x, labels, rng):
        """Single-sample ELBO with the KL in closed form, per example."""
        mean, logvar = self.encode(params, x, labels)
        z = mean + jax.random.normal(rng, mean.shape) * jnp.exp(0.5 * logvar)
        return self.log_likelihood(params, z, x, labels) - gaussian_kl(mean, logvar)

    # --- Objective interface
    def init(self, rng):
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        z = jnp.zeros((1, self.latent_dim), jnp.float32)
        labels = jnp.zeros((1,), jnp.int32) if self.conditional else None
        return base.init_networks(self.networks, rng, {"vae": (x, z, labels)})

    def sample_noise(self, rng, n):
        return jax.random.normal(rng, (n, self.latent_dim))

    def sample(self, params, noise, labels=None):
        if self.conditional and labels is None:
            labels = jnp.arange(noise.shape[0]) % self.config.model.num_classes
        return self.decode_mean(params, noise, labels)

    def posterior_mean(self, params, x, labels=None):
        return self.encode(params, x, labels)[0]

    def reconstruct(self, params, x, labels=None):
        return self.decode_mean(params, self.posterior_mean(params, x, labels), labels)

    def predictors(self):
        return {
            "sample": self.sample,
            "sample_noise": self.sample_noise,
            "encode": self.posterior_mean,
            "reconstruct": self.reconstruct,
            "log_weights": self.log_weights,
            "elbo": self.elbo,
        }

    def loss(self, vae_params, x, labels, rng, step):
        params = {"vae": {"params": vae_params}}
        if self.bound == "iwae":
            log_w = self.log_weights(params, x, labels, rng, self.num_samples)
            bound = likelihood.iwae_bound(log_w)
            loss = -jnp.mean(bound)
            return loss, {"loss/vae": loss, f"iwae_k{self.num_samples}": jnp.mean(bound)}
        mean, logvar = self.encode(params, x, labels)
        k, b = self.num_samples, x.shape[0]
        eps = jax.random.normal(rng, (k, b, self.latent_dim))
        z = (mean + eps * jnp.exp(0.5 * logvar)).reshape(k * b, -1)
        tile = lambda a: None if a is None else jnp.tile(a, (k,) + (1,) * (a.ndim - 1))
        rec = -jnp.mean(self.log_likelihood(params, z, tile(x), tile(labels)).reshape(k, b), 0)
        kl = gaussian_kl(mean, logvar)
        beta = self.beta
        if self.warmup:
            beta = beta * jnp.minimum(1.0, step.astype(jnp.float32) / self.warmup)
        loss = jnp.mean(rec + beta * kl)
        metrics = {
            "loss/vae": loss,
            "reconstruction": jnp.mean(rec),
            "kl": jnp.mean(kl),
            "elbo": -jnp.mean(rec + kl),
            "beta": jnp.asarray(beta, jnp.float32),
        }
        return loss, metrics

    def update(self, state, ctx, batch, rng):
        x = batch["image"][0]  # one real batch per step
        labels = batch["label"][0] if self.conditional else None
        grads, metrics = base.grad(self.loss, has_aux=True)(
            state.params["vae"], x, labels, rng, state.step
        )
        p, o, norms = base.apply_gradients(
            ctx.optimizers["vae"], state.params["vae"], state.opt_state["vae"], grads, "vae"
        )
        return state.replace(params={"vae": p}, opt_state={"vae": o}), {**metrics, **norms}
