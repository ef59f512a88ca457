"""Adversarial autoencoder (Makhzani et al. 2016, "Adversarial Autoencoders").

A deterministic encoder/decoder learns to reconstruct (binary cross-entropy on grey levels,
summed over pixels); a discriminator on codes tells samples of the prior p(z) from codes
E(x), and the encoder learns to fool it, so the aggregated posterior q(z) matches p(z) and
decoding prior samples gives images.

Priors (config.objective.prior):
  "gaussian"  N(0, I) in config.model.latent_dim dimensions (the paper's sec. 2).
  "mixture"   a 2-D mixture of K Gaussians, one per class, arranged around the origin, and
              the label-aware regularisation of the paper's sec. 2.3 / Fig. 4: the label
              (one-hot) is also given to the discriminator and selects the component the prior
              sample comes from, so each class is pushed into its own component.

Per step: one discriminator step, then one autoencoder step minimising
reconstruction + adversarial_weight * (the encoder's generator loss). The paper alternates a
reconstruction phase and a regularisation phase with separate SGD learning rates; one
combined Adam step keeps a single optimiser per network (the regularisation acts mostly on
the code's position and scale, to which the reconstruction is indifferent).
"""

import math

import jax
import jax.numpy as jnp
import optax

from gendl.config import ConfigError
from gendl.objectives import base, gan_losses

PRIORS = ("gaussian", "mixture")


def mixture_prior_sample(
    rng, components, num_components, radial_std=0.5, tangential_std=0.1, shift=1.4
):
    """2-D samples of the given mixture components: an elongated Gaussian centred `shift` from
    the origin, rotated by 2*pi*k/K for component k (a common AAE reproduction's constants)."""
    e = jax.random.normal(rng, (components.shape[0], 2))
    r = shift + radial_std * e[:, 0]
    t = tangential_std * e[:, 1]
    angle = 2.0 * math.pi * components.astype(jnp.float32) / num_components
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    return jnp.stack([r * cos - t * sin, r * sin + t * cos], axis=-1)


class AdversarialAutoencoder(base.EncoderDecoder, base.Objective):
    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        o, m = config.objective, config.model
        self.prior = o.prior
        self.adversarial_weight = float(o.adversarial_weight)
        self.loss = o.get("loss", "non_saturating")
        self.code_dim = int(m.latent_dim)
        self.num_classes = int(m.get("prior_classes", 10))
        if self.prior not in PRIORS:
            raise ConfigError(f"config.objective.prior={self.prior!r}; use one of {PRIORS}.")
        if self.prior == "mixture" and (self.code_dim != 2 or not m.get("label_prior")):
            raise ConfigError(
                "The mixture prior is 2-D and label-aware: set --config.model.latent_dim=2 and "
                "--config.model.label_prior=True (or use the config's :mixture variant)."
            )
        self.net, self.discriminator = networks["autoencoder"], networks["discriminator"]

    def init(self, rng):
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        z = jnp.zeros((1, self.code_dim), jnp.float32)
        labels = jnp.zeros((1,), jnp.int32)
        return base.init_networks(
            self.networks, rng, {"autoencoder": (x, z), "discriminator": (z, labels)}
        )

    def prior_sample(self, rng, labels):
        if self.prior == "mixture":
            return mixture_prior_sample(rng, labels, self.num_classes)
        return jax.random.normal(rng, (labels.shape[0], self.code_dim))

    def sample_noise(self, rng, n):
        # Prior codes; for the mixture, consecutive rows of 10 come from one component each,
        # so a 10-column grid shows one class per row.
        return self.prior_sample(rng, (jnp.arange(n) // 10) % self.num_classes)

    def encode(self, variables, x, labels=None):
        return self.net.apply(variables["autoencoder"], x, method="encode")

    def _logits(self, ae_params, code):
        return self.net.apply({"params": ae_params}, code, method="decode")

    def decode_mean(self, variables, code, labels=None):
        return jax.nn.sigmoid(self.net.apply(variables["autoencoder"], code, method="decode"))

    def sample(self, variables, noise):
        return self.decode_mean(variables, noise)

    def update(self, state, ctx, batch, rng):
        params, opt_state = state.params, state.opt_state
        x, labels = batch["image"][0], batch["label"][0]
        disc = lambda p, z: self.discriminator.apply({"params": p}, z, labels)
        code = self.net.apply({"params": params["autoencoder"]}, x, method="encode")
        prior = self.prior_sample(rng, labels)

        def d_loss_fn(p):
            l_prior, l_code = disc(p, prior), disc(p, code)
            loss = gan_losses.discriminator_loss(self.loss, l_prior, l_code)
            return loss, {"loss/discriminator": loss, "d_code": jnp.mean(jax.nn.sigmoid(l_code))}

        d_params, d_opt, d_metrics = base.update_network(
            "discriminator", d_loss_fn, params, opt_state, ctx.optimizers
        )

        def ae_loss_fn(p):
            code = self.net.apply({"params": p}, x, method="encode")
            logits = self._logits(p, code)
            flat = lambda a: a.reshape(a.shape[0], -1)
            bce = jnp.mean(jnp.sum(optax.sigmoid_binary_cross_entropy(flat(logits), flat(x)), -1))
            adv = gan_losses.generator_loss(self.loss, disc(d_params, code))
            return bce + self.adversarial_weight * adv, {
                "loss/reconstruction_bce": bce,
                "loss/encoder_adversarial": adv,
            }

        ae_params, ae_opt, ae_metrics = base.update_network(
            "autoencoder", ae_loss_fn, params, opt_state, ctx.optimizers
        )
        metrics = {**d_metrics, **ae_metrics}
        state = state.replace(
            params={"autoencoder": ae_params, "discriminator": d_params},
            opt_state={"autoencoder": ae_opt, "discriminator": d_opt},
        )
        return state, metrics
