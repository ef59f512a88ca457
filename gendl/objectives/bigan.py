"""BiGAN (Donahue et al. 2017, "Adversarial Feature Learning") / ALI (Dumoulin et al. 2017,
"Adversarially Learned Inference"): an encoder E(x) learnt jointly with the generator G(z).

The discriminator sees pairs: (x, E(x)) with x from the data and (G(z), z) with z from the
prior, and tells them apart with the GAN loss; E and G together minimise the generator loss
with the labels swapped (the non-saturating form both papers train with). At the optimum
E inverts G, so G(E(x)) reconstructs x although no reconstruction loss is ever applied.
Per step: one discriminator step, then one joint step of G and E on fresh noise.

Networks with batch norm (config.model.batch_norm) keep their statistics in
`state.model_state`. The discriminator scores real and generated pairs in separate passes,
so each set is normalised on its own (the BiGAN code does the same); its statistics advance
in its own step only. G's and E's advance with every training pass of theirs.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.objectives import base, gan_losses


def _train_pass(module, params, model_state, *args):
    return base.apply_network(module, params, model_state, *args, train=True)


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
            self.networks,
            rng,
            {"generator": (z,), "encoder": (x,), "discriminator": (x, z)},
            train=False,
        )

    def sample_noise(self, rng, n):
        return jax.random.uniform(rng, (n, self.z_dim), minval=-1.0, maxval=1.0)

    def sample(self, variables, noise):
        return self.decode_mean(variables, noise)

    # encode / decode_mean: what the reconstruction and pictures evaluators call.
    def encode(self, variables, x, labels=None):
        return self.encoder.apply(variables["encoder"], x, train=False)

    def decode_mean(self, variables, code, labels=None):
        return jax.nn.sigmoid(self.generator.apply(variables["generator"], code, train=False))

    def update(self, state, ctx, batch, rng):
        params, opt_state = state.params, state.opt_state
        g_state, e_state, d_state = (
            state.model_state.get(name, {}) for name in ("generator", "encoder", "discriminator")
        )
        real = batch["image"][0]
        n = real.shape[0]
        k_d, k_g = jax.random.split(rng)

        def generate(p, s, z):
            logits, s = _train_pass(self.generator, p, s, z)
            return jax.nn.sigmoid(logits), s

        z = self.sample_noise(k_d, n)
        fake, g_state = generate(params["generator"], g_state, z)
        code, e_state = _train_pass(self.encoder, params["encoder"], e_state, real)

        def d_loss_fn(p):
            l_fake, s = _train_pass(self.discriminator, p, d_state, fake, z)
            l_real, s = _train_pass(self.discriminator, p, s, real, code)
            loss = gan_losses.discriminator_loss(self.loss, l_real, l_fake)
            return loss, (
                s,
                {
                    "loss/discriminator": loss,
                    "d_real": jnp.mean(jax.nn.sigmoid(l_real)),
                    "d_fake": jnp.mean(jax.nn.sigmoid(l_fake)),
                },
            )

        (_, (d_state, d_metrics)), d_grads = base.value_and_grad(d_loss_fn, has_aux=True)(
            params["discriminator"]
        )
        d_params, d_opt, d_norms = base.apply_gradients(
            ctx.optimizers["discriminator"],
            params["discriminator"],
            opt_state["discriminator"],
            d_grads,
            "discriminator",
        )

        z = self.sample_noise(k_g, n)

        def ge_loss_fn(ge):
            # G learns through D's image input, E through D's code input; D's statistics are
            # not advanced by this step.
            x_fake, g_new = generate(ge["generator"], g_state, z)
            code, e_new = _train_pass(self.encoder, ge["encoder"], e_state, real)
            l_fake, _ = _train_pass(self.discriminator, d_params, d_state, x_fake, z)
            l_real, _ = _train_pass(self.discriminator, d_params, d_state, real, code)
            # Swapped roles: G wants its pairs called real, E wants the data pairs called fake.
            loss = gan_losses.generator_loss(self.loss, l_fake) + gan_losses.generator_loss(
                self.loss, -l_real
            )
            return loss, (g_new, e_new)

        ge = {"generator": params["generator"], "encoder": params["encoder"]}
        (ge_loss, (g_state, e_state)), ge_grads = base.value_and_grad(ge_loss_fn, has_aux=True)(ge)
        new_params, new_opt = {"discriminator": d_params}, {"discriminator": d_opt}
        metrics = {**d_metrics, **d_norms, "loss/generator_encoder": ge_loss}
        for name in ("generator", "encoder"):
            new_params[name], new_opt[name], norms = base.apply_gradients(
                ctx.optimizers[name], ge[name], opt_state[name], ge_grads[name], name
            )
            metrics.update(norms)
        model_state = {
            name: s
            for name, s in (
                ("generator", g_state),
                ("encoder", e_state),
                ("discriminator", d_state),
            )
            if s
        }
        return (
            state.replace(params=new_params, opt_state=new_opt, model_state=model_state),
            metrics,
        )
