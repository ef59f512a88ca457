"""CoGAN (Liu & Tuzel 2016, "Coupled Generative Adversarial Networks"): two GANs, one per
image domain, whose generators share their first layers and whose discriminators share
their last layers (models/cogan.py), so that one noise vector decodes to a PAIR of images
with the same high-level content, learnt without any pairs in the data.

Data: domain 1 is the main stream's `image`, domain 2 is the stream "b" (`b/image`) passed
through a derived-domain transform (`objective.transform`, gendl/data/derived_domains.py:
"edges" or "negative"), applied here on the device. configs/cogan.py draws the two streams
from disjoint halves of the training set (config.data.partition), as the paper does, so no
digit is ever seen in both domains.

One train step, as the authors' PyTorch code (trainer_cogan_mnistedge.py): a discriminator
step on both domains' real images and a fresh pair of fakes, then a generator step on fresh
noise; the loss of each is the mean over both domains (one pass of 2n logits):
    L_D = mean_{a,b} softplus(-D(real)) + mean_{a,b} softplus(D(fake))
    L_G = mean_{a,b} softplus(-D(G(z)))        (the non-saturating loss)
(gan_losses, `objective.loss`), plus `objective.weight_decay` * 1/2 |params|^2 in each, the
L2 term that PyTorch's Adam(weight_decay=5e-4) of the reference adds to the gradient. Noise
z ~ N(0, I) of `model.z_dim` = 100, as that code. Batch statistics of the generator's shared
layers live in `state.model_state` and advance with both of its training passes.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.data import derived_domains
from gendl.objectives import base, gan_losses


def l2_penalty(params, weight: float):
    """weight/2 * sum of squares of all parameters: its gradient is weight * params."""
    if not weight:
        return 0.0
    return 0.5 * weight * sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params))


class CoGan(base.Objective):
    ema_networks = ("generator",)

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        cfg = config.objective
        self.transform_name = cfg.get("transform", "edges")
        self.transform, _ = derived_domains.get(self.transform_name)
        self.loss = cfg.get("loss", "non_saturating")
        if self.loss not in gan_losses.KINDS:
            raise ConfigError(
                f"config.objective.loss={self.loss!r}; use one of {', '.join(gan_losses.KINDS)}."
            )
        self.weight_decay = float(cfg.get("weight_decay", 0.0))
        self.z_dim = int(config.model.z_dim)
        if "b/image" not in spec.features:
            raise ConfigError(
                "CoGAN reads domain 2 from the data stream 'b' (feature 'b/image'), which this "
                f"config lacks (features: {sorted(spec.features)}). Add config.data.streams.b, "
                "e.g. the other half of the training set: dict(partition=(1, 2)) with "
                "config.data.partition=(0, 2)."
            )
        self.generator, self.discriminator = networks["generator"], networks["discriminator"]

    def init(self, rng):
        kg, kd = jax.random.split(rng)
        z = jnp.zeros((1, self.z_dim), jnp.float32)
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        return {
            "generator": dict(self.generator.init(kg, z, train=False)),
            "discriminator": dict(self.discriminator.init(kd, x, x, train=False)),
        }

    # --- predict functions
    def sample_noise(self, rng, n):
        return jax.random.normal(rng, (n, self.z_dim))

    def sample_pairs(self, variables, noise):
        """(domain-1 images, domain-2 images) in [0, 1], [n, H, W, C] each, from one noise."""
        return self.generator.apply(variables["generator"], noise, train=False)

    def sample(self, variables, noise):
        """Each pair side by side, domain 1 | domain 2: [n, H, 2 W, C] (the sample grid)."""
        return jnp.concatenate(self.sample_pairs(variables, noise), axis=2)

    def predictors(self):
        return {
            "sample": self.sample,
            "sample_noise": self.sample_noise,
            "sample_pairs": self.sample_pairs,
        }

    # --- training
    def _generate(self, params, g_state, z):
        (a, b), new = base.apply_network(self.generator, params, g_state, z, train=True)
        return a, b, new

    def _discriminate(self, params, a, b):
        return jnp.concatenate(self.discriminator.apply({"params": params}, a, b, train=True))

    def update(self, state, ctx, batch, rng):
        params, opt_state = dict(state.params), dict(state.opt_state)
        g_state = state.model_state["generator"]
        real_a = batch["image"][0]
        real_b = self.transform(batch["b/image"][0])
        k_d, k_g = jax.random.split(rng)
        n = real_a.shape[0]

        fake_a, fake_b, g_state = self._generate(
            params["generator"], g_state, self.sample_noise(k_d, n)
        )
        fake_a, fake_b = jax.lax.stop_gradient(fake_a), jax.lax.stop_gradient(fake_b)

        def d_loss_fn(p):
            real = self._discriminate(p, real_a, real_b)
            fake = self._discriminate(p, fake_a, fake_b)
            adv = gan_losses.discriminator_loss(self.loss, real, fake)
            loss = adv + l2_penalty(p, self.weight_decay)
            return loss, {
                "loss/discriminator": adv,
                "d_real": jnp.mean(real),
                "d_fake": jnp.mean(fake),
                "d_accuracy": 0.5 * (jnp.mean(real > 0) + jnp.mean(fake < 0)),
            }

        params["discriminator"], opt_state["discriminator"], d_metrics = base.update_network(
            "discriminator", d_loss_fn, params, opt_state, ctx.optimizers
        )

        z = self.sample_noise(k_g, n)

        def g_loss_fn(p):
            a, b, new_state = self._generate(p, g_state, z)
            adv = gan_losses.generator_loss(
                self.loss, self._discriminate(params["discriminator"], a, b)
            )
            loss = adv + l2_penalty(p, self.weight_decay)
            return loss, ({"loss/generator": adv}, new_state)

        (_, (g_metrics, g_state)), grads = base.value_and_grad(g_loss_fn, has_aux=True)(
            params["generator"]
        )
        params["generator"], opt_state["generator"], g_norms = base.apply_gradients(
            ctx.optimizers["generator"],
            params["generator"],
            opt_state["generator"],
            grads,
            "generator",
        )
        state = state.replace(
            params=params, opt_state=opt_state, model_state={"generator": g_state}
        )
        return state, {**d_metrics, **g_metrics, **g_norms}
