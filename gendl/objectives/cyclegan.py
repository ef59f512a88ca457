"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): generators G: a -> b and F: b -> a (generator_ab, generator_ba),
discriminators D_a and D_b, trained on unpaired images of the two domains.

Losses (sec. 3-4, as in the reference code), on the [-1, 1] scale, means over pixels/patches:
  adversarial, least squares (LSGAN, sec. 4 "Training details"):
      G:   mean (D_b(G(a)) - 1)^2,  F: mean (D_a(F(b)) - 1)^2
      D_b: 1/2 [mean (D_b(b) - 1)^2 + mean D_b(pool_b(G(a)))^2]   (halved, as the paper
           says, "which slows down the rate at which D learns relative to G"); D_a alike
  cycle consistency: lambda [|F(G(a)) - a|_1 + |G(F(b)) - b|_1], lambda = 10
  identity (sec. 5.2, used for all results of the reference code's default):
      lambda_identity * lambda [|G(b) - b|_1 + |F(a) - a|_1], lambda_identity = 0.5
The generators minimise the sum of their adversarial, cycle and identity terms together
(one loss, gradients to both); then each discriminator takes one step on real images of its
domain and fakes drawn through its image pool (image_pool.py, 50 images, kept in
`state.objective_state`), the fakes being those of the generators before their update, as in
the reference code. Adam(2e-4, b1 = 0.5) for all four networks, the learning rate constant
for the first half of training and linearly decayed to 0 over the second
(config.optimizer.schedule = "linear", decay_start = 0.5).

The networks (models/unpaired.py) use instance norm and no dropout: a translation is a
deterministic function of the input (`rng` is accepted and ignored).
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.objectives import base, image_pool, unpaired
from gendl.objectives.unpaired import l1

GENERATORS = ("generator_ab", "generator_ba")


def lsgan_generator_loss(fake_logits):
    """mean (D(G(x)) - 1)^2: the generator's least-squares loss (no 1/2, as in the code)."""
    return jnp.mean((jnp.asarray(fake_logits, jnp.float32) - 1.0) ** 2)


def lsgan_discriminator_loss(real_logits, fake_logits):
    """1/2 [mean (D(y) - 1)^2 + mean D(G(x))^2]."""
    real = jnp.asarray(real_logits, jnp.float32)
    fake = jnp.asarray(fake_logits, jnp.float32)
    return 0.5 * (jnp.mean((real - 1.0) ** 2) + jnp.mean(fake**2))


def cycle_loss(a, reconstructed_a, b, reconstructed_b, weight: float):
    """weight * (|F(G(a)) - a|_1 + |G(F(b)) - b|_1), each a mean over pixels."""
    return weight * (l1(reconstructed_a, a) + l1(reconstructed_b, b))


def identity_loss(a, f_of_a, b, g_of_b, weight: float):
    """weight * (|G(b) - b|_1 + |F(a) - a|_1): each generator should leave images of its
    target domain as they are (sec. 5.2, preserves colour composition)."""
    return weight * (l1(g_of_b, b) + l1(f_of_a, a))


class CycleGan(unpaired.UnpairedTranslation):
    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        cfg = config.objective
        self.lambda_cycle = float(cfg.get("lambda_cycle", 10.0))
        self.lambda_identity = float(cfg.get("lambda_identity", 0.5))
        self.pool_size = int(cfg.get("pool_size", 50))
        if self.lambda_cycle < 0 or self.lambda_identity < 0 or self.pool_size < 0:
            raise ConfigError(
                "config.objective.lambda_cycle, lambda_identity and pool_size must be >= 0 "
                f"(got {self.lambda_cycle}, {self.lambda_identity}, {self.pool_size})."
            )

    def init(self, rng):
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        keys = jax.random.split(rng, len(self.networks))
        return {
            name: dict(self.networks[name].init(key, x, train=False))
            for key, name in zip(keys, sorted(self.networks), strict=True)
        }

    def init_objective_state(self, rng):
        del rng
        return {
            "pool_a": image_pool.init(self.pool_size, self.image_shape),
            "pool_b": image_pool.init(self.pool_size, self.image_shape),
        }

    def _generate(self, variables, name, x, rng):
        del rng  # no noise in CycleGAN's generators
        return self.networks[name].apply(variables[name], x, train=False)

    def _net(self, name, params, x):
        return self.networks[name].apply({"params": params}, x, train=True)

    def update(self, state, ctx, batch, rng):
        a, b = self._domain_images(batch)
        params, opt_state = dict(state.params), dict(state.opt_state)

        def g_loss_fn(g_params):
            fake_b = self._net("generator_ab", g_params["generator_ab"], a)
            fake_a = self._net("generator_ba", g_params["generator_ba"], b)
            rec_a = self._net("generator_ba", g_params["generator_ba"], fake_b)
            rec_b = self._net("generator_ab", g_params["generator_ab"], fake_a)
            adv_ab = lsgan_generator_loss(
                self._net("discriminator_b", params["discriminator_b"], fake_b)
            )
            adv_ba = lsgan_generator_loss(
                self._net("discriminator_a", params["discriminator_a"], fake_a)
            )
            cycle = cycle_loss(a, rec_a, b, rec_b, self.lambda_cycle)
            loss = adv_ab + adv_ba + cycle
            metrics = {
                "loss/generator_ab_adversarial": adv_ab,
                "loss/generator_ba_adversarial": adv_ba,
                "loss/cycle": cycle,
            }
            if self.lambda_identity:
                identity = identity_loss(
                    a,
                    self._net("generator_ba", g_params["generator_ba"], a),
                    b,
                    self._net("generator_ab", g_params["generator_ab"], b),
                    self.lambda_identity * self.lambda_cycle,
                )
                loss = loss + identity
                metrics["loss/identity"] = identity
            return loss, ((fake_a, fake_b), {**metrics, "loss/generators": loss})

        g_params = {name: params[name] for name in GENERATORS}
        (_, ((fake_a, fake_b), metrics)), grads = base.value_and_grad(g_loss_fn, has_aux=True)(
            g_params
        )
        for name in GENERATORS:
            params[name], opt_state[name], norms = base.apply_gradients(
                ctx.optimizers[name], params[name], opt_state[name], grads[name], name
            )
            metrics.update(norms)

        pools = dict(state.objective_state)
        k_a, k_b = jax.random.split(rng)
        for domain, real, fake, key in (("a", a, fake_a, k_a), ("b", b, fake_b, k_b)):
            pools[f"pool_{domain}"], pooled = image_pool.query(
                pools[f"pool_{domain}"], jax.lax.stop_gradient(fake), key
            )
            name = f"discriminator_{domain}"

            def d_loss_fn(p, real=real, pooled=pooled, name=name):
                return lsgan_discriminator_loss(
                    self._net(name, p, real), self._net(name, p, pooled)
                )

            d_loss, d_grads = base.value_and_grad(d_loss_fn)(params[name])
            params[name], opt_state[name], norms = base.apply_gradients(
                ctx.optimizers[name], params[name], opt_state[name], d_grads, name
            )
            metrics.update({f"loss/{name}": d_loss, **norms})
        state = state.replace(params=params, opt_state=opt_state, objective_state=pools)
        return state, metrics
