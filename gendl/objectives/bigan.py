"""BiGAN (Donahue et al. 2017, "Adversarial Feature Learning") / ALI (Dumoulin et al. 2017,
"Adversarially Learned Inference"): an encoder E(x) learnt jointly with the generator G(z).

The discriminator sees pairs: (x, E(x)) with x from the data and (G(z), z) with z from the
prior, and tells them apart with the GAN loss; E and G together minimise the generator loss
with the labels swapped (the non-saturating form both papers train with). At the optimum
E inverts G, so G(E(x)) reconstructs x although no reconstruction loss is ever applied.
Per step: one discriminator step, then one joint step of G and E on fresh noise.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.objectives import base, gan_losses


class Bigan(base.EncoderDecoder, base.Objective):
    ema_networks = ("generator",)  # config.ema.decay > 0: samples from averaged weights

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        self.z_dim = int(config.model.z_dim)
        self.loss = config.objective.get("loss", "non_saturating")
        if self.loss not in ("non_saturating", "minimax"):
            # The encoder's loss swaps the labels by negating the logit, which only the
            # logistic losses allow.
            raise ConfigError(
                f"config.objective.loss={self.loss!r}: BiGAN supports 'non_saturating' and "
                "'minimax' (logistic losses on the joint discriminator's logit)."
            )
        self.generator = networks["generator"]
        self.encoder = networks["encoder"]
        self.discriminator = networks["discriminator"]

    def init(self, rng):
        z = jnp.zeros((1, self.z_dim), jnp.float32)
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        return base.init_networks(
            self.networks, rng, {"generator": (z,), "encoder": (x,), "discriminator": (x, z)}
        )

    def sample_noise(self, rng, n):
        return jax.random.uniform(rng, (n, self.z_dim), minval=-1.0, maxval=1.0)

    def _generate(self, g_params, z):
        return jax.nn.sigmoid(self.generator.apply({"params": g_params}, z))

    def sample(self, variables, noise):
        return self.decode_mean(variables, noise)

    # encode / decode_mean: what the reconstruction and pictures evaluators call.
    def encode(self, variables, x, labels=None):
        return self.encoder.apply(variables["encoder"], x)

    def decode_mean(self, variables, code, labels=None):
        return jax.nn.sigmoid(self.generator.apply(variables["generator"], code))

    def update(self, state, ctx, batch, rng):
        params, opt_state = state.params, state.opt_state
        real = batch["image"][0]
        n = real.shape[0]
        k_d, k_g = jax.random.split(rng)
        disc = lambda p, x, z: self.discriminator.apply({"params": p}, x, z)

        z = self.sample_noise(k_d, n)
        fake = self._generate(params["generator"], z)
        code = self.encoder.apply({"params": params["encoder"]}, real)

        def d_loss_fn(p):
            l_real, l_fake = disc(p, real, code), disc(p, fake, z)
            loss = gan_losses.discriminator_loss(self.loss, l_real, l_fake)
            return loss, {
                "loss/discriminator": loss,
                "d_real": jnp.mean(jax.nn.sigmoid(l_real)),
                "d_fake": jnp.mean(jax.nn.sigmoid(l_fake)),
            }

        d_params, d_opt, d_metrics = base.update_network(
            "discriminator", d_loss_fn, params, opt_state, ctx.optimizers
        )

        z = self.sample_noise(k_g, n)

        def ge_loss_fn(ge):
            l_fake = disc(d_params, self._generate(ge["generator"], z), z)
            l_real = disc(d_params, real, self.encoder.apply({"params": ge["encoder"]}, real))
            # Swapped roles: G wants its pairs called real, E wants the data pairs called fake.
            return gan_losses.generator_loss(self.loss, l_fake) + gan_losses.generator_loss(
                self.loss, -l_real
            )

        ge = {"generator": params["generator"], "encoder": params["encoder"]}
        ge_loss, ge_grads = base.value_and_grad(ge_loss_fn)(ge)
        new_params, new_opt, metrics = {"discriminator": d_params}, {"discriminator": d_opt}, {}
        for name in ("generator", "encoder"):
            new_params[name], new_opt[name], norms = base.apply_gradients(
                ctx.optimizers[name], ge[name], opt_state[name], ge_grads[name], name
            )
            metrics.update(norms)
        metrics.update({**d_metrics, "loss/generator_encoder": ge_loss})
        return state.replace(params=new_params, opt_state=new_opt), metrics
