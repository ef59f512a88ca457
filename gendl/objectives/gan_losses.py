"""Adversarial losses on discriminator outputs, each the scalar mean over the batch.

`real` and `fake` are the discriminator's raw outputs on real and generated images: logits
l for the probabilistic losses (D(x) = sigmoid(l)), critic values for the others. With
log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l), every log-probability
is a softplus of the logit, which stays finite for any logit (no log(0)).

kind            discriminator loss                                generator loss
minimax         -E log D(x) - E log(1 - D(G(z)))                  E log(1 - D(G(z)))
                = E softplus(-l_real) + E softplus(l_fake)         = -E softplus(l_fake)
                (Goodfellow et al. 2014, eq. 1)
non_saturating  as minimax                                        -E log D(G(z))
                                                                  = E softplus(-l_fake)
                (Goodfellow et al. 2014, sec. 3: stronger gradients early in training)
wasserstein     E c_fake - E c_real                               -E c_fake
                (Arjovsky et al. 2017; the critic must be kept Lipschitz elsewhere)
hinge           E relu(1 - c_real) + E relu(1 + c_fake)           -E c_fake
                (Lim & Ye 2017; Miyato et al. 2018, eq. 16-17)
least_squares   1/2 E (c_real - 1)^2 + 1/2 E c_fake^2             1/2 E (c_fake - 1)^2
                (Mao et al. 2017, eq. 2 with a=0, b=c=1)
boundary_seeking as minimax                                       1/2 E (log D - log(1 - D))^2
                                                                  at G(z); = 1/2 E l_fake^2
                (Hjelm et al. 2018, eq. 8: the generator aims at the decision boundary
                D = 1/2, where l = log D - log(1 - D) = 0; for continuous data)
                with log_z: 1/2 E (l_fake - log Z)^2, the authors' code for continuous
                data (rdevon/BGAN, loss `bgan` with use_log_Z): the target is the log of
                the importance weights' normaliser Z = E_G D/(1 - D) (`log_normaliser`,
                averaged over steps by the caller) instead of 0 (theirs has no 1/2: the
                same steps under Adam, but for its epsilon)
"""

import jax
import jax.numpy as jnp

KINDS = ("minimax", "non_saturating", "wasserstein", "hinge", "least_squares", "boundary_seeking")


def _check(kind):
    if kind not in KINDS:
        from gendl.config import ConfigError

        raise ConfigError(
            f"Unknown adversarial loss {kind!r} (config.objective.loss). Known: {', '.join(KINDS)}."
        )


def discriminator_loss(kind: str, real, fake):
    """The discriminator's (critic's) loss to minimise, given its outputs on real and fake."""
    _check(kind)
    real, fake = jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32)
    if kind in ("minimax", "non_saturating", "boundary_seeking"):
        return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    if kind == "wasserstein":
        return jnp.mean(fake) - jnp.mean(real)
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
    return 0.5 * jnp.mean((real - 1.0) ** 2) + 0.5 * jnp.mean(fake**2)


def log_normaliser(fake):
    """The batch estimate of log Z = log E_G[D/(1 - D)] = log mean exp(l_fake), the log of
    the normaliser of the paper's boundary-seeking target density p~ = q_G D/(1 - D) / Z;
    logsumexp keeps it finite for any logits."""
    fake = jnp.asarray(fake, jnp.float32)
    return jax.nn.logsumexp(fake) - jnp.log(jnp.float32(fake.size))


def generator_loss(kind: str, fake, log_z=None):
    """The generator's loss to minimise, given the discriminator's outputs on its samples.
    `log_z` (boundary_seeking only): the target logit log Z instead of 0."""
    _check(kind)
    if log_z is not None and kind != "boundary_seeking":
        raise ValueError(f"log_z is a setting of the boundary_seeking loss, not of {kind!r}.")
    fake = jnp.asarray(fake, jnp.float32)
    if kind == "minimax":
        return -jnp.mean(jax.nn.softplus(fake))
    if kind == "non_saturating":
        return jnp.mean(jax.nn.softplus(-fake))
    if kind in ("wasserstein", "hinge"):
        return -jnp.mean(fake)
    if kind == "boundary_seeking":  # log D - log(1 - D) is the logit itself
        if log_z is not None:
            return 0.5 * jnp.mean((fake - log_z) ** 2)
        return 0.5 * jnp.mean(fake**2)
    return 0.5 * jnp.mean((fake - 1.0) ** 2)
