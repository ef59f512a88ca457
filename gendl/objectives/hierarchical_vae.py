"""VAE and IWAE with two stochastic layers (Burda et al. 2015, Section 5):

    q(z1, z2 | x) = q(z1|x) q(z2|z1),    p(x, z1, z2) = p(z2) p(z1|z2) p(x|z1),  p(z2) = N(0, I).

There is no closed-form KL here: the ELBO and the k-sample IWAE bound are both Monte Carlo
averages of the log importance weights log p(x, z1, z2) - log q(z1, z2 | x) (the ELBO the mean
over k samples, the IWAE bound the log of the mean of their exponentials).

Pictures and reconstructions use the top layer z2 as "the" latent: `encode` maps x through the
mean of q(z1|x) to q(z2|.), `decode_mean` maps z2 through the mean of p(z1|z2) to p(x|z1).
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.evaluation import likelihood
from gendl.objectives import base, vae


def _sample(rng, mean, logvar):
    """z ~ N(mean, exp(logvar)) and log N(z; mean, exp(logvar)) computed from the noise (no
    cancellation in z - mean)."""
    eps = jax.random.normal(rng, mean.shape, mean.dtype)
    z = mean + jnp.exp(0.5 * logvar) * eps
    log_q = -0.5 * jnp.sum(jnp.log(2 * jnp.pi) + logvar + eps**2, axis=-1)
    return z, log_q


class HierarchicalVae(vae.Vae):
    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        if self.conditional:
            raise ConfigError("The two-stochastic-layer VAE is unconditional: set num_classes=0.")
        if self.beta != 1.0 or self.warmup:
            raise ConfigError(
                "The two-stochastic-layer VAE trains the plain ELBO or IWAE bound: use "
                "objective.beta=1 and kl_warmup_steps=0."
            )

    def init(self, rng):
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        z2 = jnp.zeros((1, self.latent_dim), jnp.float32)
        return base.init_networks(self.networks, rng, {"vae": (x, z2)})

    def log_weights(self, variables, x, labels, rng, n):
        """log p(x, z1, z2) - log q(z1, z2 | x) for n fresh samples per example: [batch, n]."""
        del labels
        b = x.shape[0]
        x_rep = jnp.repeat(x, n, axis=0)  # row i * n + j: sample j of example i
        k1, k2 = jax.random.split(rng)
        mean1, logvar1 = self._apply(variables, "encode1", x)
        z1, log_q1 = _sample(k1, jnp.repeat(mean1, n, 0), jnp.repeat(logvar1, n, 0))
        z2, log_q2 = _sample(k2, *self._apply(variables, "encode2", z1))
        prior_mean1, prior_logvar1 = self._apply(variables, "prior1", z2)
        log_p = (
            self.log_likelihood(variables, z1, x_rep)
            + likelihood.diag_gaussian_log_prob(z1, prior_mean1, prior_logvar1)
            + likelihood.std_normal_log_prob(z2)
        )
        return (log_p - log_q1 - log_q2).reshape(b, n)

    def elbo(self, variables, x, labels, rng):
        return self.log_weights(variables, x, labels, rng, 1)[:, 0]

    def encode(self, variables, x, labels=None):
        mean1, _ = self._apply(variables, "encode1", x)
        return self._apply(variables, "encode2", mean1)

    def decode_mean(self, variables, z, labels=None):
        mean1, _ = self._apply(variables, "prior1", z)
        return super().decode_mean(variables, mean1)

    def loss(self, vae_params, x, labels, rng, step):
        del step  # no schedules
        log_w = self.log_weights({"vae": {"params": vae_params}}, x, None, rng, self.num_samples)
        if self.bound == "iwae":
            bound, name = likelihood.iwae_bound(log_w), f"iwae_k{self.num_samples}"
        else:
            bound, name = jnp.mean(log_w, axis=1), "elbo"
        loss = -jnp.mean(bound)
        return loss, {"loss/vae": loss, name: -loss}
