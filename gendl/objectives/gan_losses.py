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
"""

import jax
import jax.numpy as jnp

KINDS = ("minimax", "non_saturating", "wasserstein", "hinge", "least_squares")


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
    if kind in ("minimax", "non_saturating"):
        return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    if kind == "wasserstein":
        return jnp.mean(fake) - jnp.mean(real)
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
    return 0.5 * jnp.mean((real - 1.0) ** 2) + 0.5 * jnp.mean(fake**2)


def generator_loss(kind: str, fake):
    """The generator's loss to minimise, given the discriminator's outputs on its samples."""
    _check(kind)
    fake = jnp.asarray(fake, jnp.float32)
    if kind == "minimax":
        return -jnp.mean(jax.nn.softplus(fake))
    if kind == "non_saturating":
        return jnp.mean(jax.nn.softplus(-fake))
    if kind in ("wasserstein", "hinge"):
        return -jnp.mean(fake)
    return 0.5 * jnp.mean((fake - 1.0) ** 2)
