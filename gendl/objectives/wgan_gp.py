"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, Algorithm 1).

Per generator iteration: `n_critic` critic steps, each on a fresh real batch, fresh noise and
a fresh interpolation coefficient per sample, minimising
    E[D(fake)] - E[D(real)] + lambda * E[(||grad_x D(x_hat)||_2 - 1)^2],
with the norm over all pixels of a sample; then one generator step minimising -E[D(G(z))].
"""

import jax
import jax.numpy as jnp
import optax

from gendl.config import ConfigError
from gendl.objectives import base


def gradient_penalty(critic_fn, real, fake, eps):
    """Returns (mean penalty, per-sample gradient norms) at x_hat = eps*real + (1-eps)*fake.

    `eps` has shape [batch]: one interpolation coefficient per sample, as in the paper.
    """
    eps = eps.reshape((-1,) + (1,) * (real.ndim - 1))
    x_hat = eps * real + (1.0 - eps) * fake
    # Summing over the batch gives each sample's own input gradient, since samples are
    # independent through the critic (no batch norm).
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x_hat)
    # safe_norm: a zero gradient would make the plain norm's derivative NaN.
    norms = optax.safe_norm(grads.reshape(grads.shape[0], -1), 0.0, axis=1)
    return jnp.mean((norms - 1.0) ** 2), norms


def critic_loss(critic_fn, real, fake, eps, gp_weight):
    """(E[D(fake)] - E[D(real)] + gp_weight * penalty, metrics). Real and fake go through the
    critic as one batch: the same per-sample outputs as two calls (no batch norm), in matrix
    products twice as tall, which XLA:CPU runs faster (wgan_gp 3-5% per step)."""
    d_real, d_fake = jnp.split(critic_fn(jnp.concatenate([real, fake])), 2)
    gp, norms = gradient_penalty(critic_fn, real, fake, eps)
    w_dist = jnp.mean(d_real) - jnp.mean(d_fake)
    loss = -w_dist + gp_weight * gp
    return loss, {
        "loss/critic": loss,
        "wasserstein": w_dist,
        "gp": gp,
        "gp_grad_norm": jnp.mean(norms),
    }


class WganGp(base.Objective):
    ema_networks = ("generator",)  # averaged when config.ema.decay > 0

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        self.n_critic = int(config.objective.n_critic)
        if self.n_critic < 1:
            raise ConfigError(f"config.objective.n_critic must be >= 1, got {self.n_critic}.")
        self.gp_weight = float(config.objective.gp_weight)
        self.z_dim = int(config.model.z_dim)
        self.batches_per_step = self.n_critic
        self.generator, self.critic = networks["generator"], networks["critic"]

    def init(self, rng):
        z = self.sample_noise(rng, 1)
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        return base.init_networks(self.networks, rng, {"generator": (z,), "critic": (x,)})

    def sample_noise(self, rng, n):
        return jax.random.normal(rng, (n, self.z_dim))

    def sample(self, variables, noise):
        return self.generator.apply(variables["generator"], noise)

    def predictors(self):
        return {"sample": self.sample, "sample_noise": self.sample_noise}

    def update(self, state, ctx, batch, rng):
        params, opt_state = state.params, state.opt_state
        real_batches = batch["image"]  # [n_critic, batch, H, W, C]
        n = real_batches.shape[1]
        g_params = params["generator"]
        d_params, d_opt = params["critic"], opt_state["critic"]
        critic = lambda p, x: self.critic.apply({"params": p}, x)

        def loss(p, real, fake, eps):
            return critic_loss(lambda x: critic(p, x), real, fake, eps, self.gp_weight)

        # Unrolled on purpose: XLA:CPU runs some of the gradient penalty's second-derivative
        # convolutions many times slower inside a while loop (lax.scan) than unrolled (see
        # README, Performance); 5 copies compile quickly.
        critic_metrics = []
        for i in range(self.n_critic):
            kz, ke = jax.random.split(jax.random.fold_in(rng, i))
            fake = self.generator.apply({"params": g_params}, self.sample_noise(kz, n))
            eps = jax.random.uniform(ke, (n,))
            grads, d_metrics = base.grad(loss, has_aux=True)(d_params, real_batches[i], fake, eps)
            d_params, d_opt, norms = base.apply_gradients(
                ctx.optimizers["critic"], d_params, d_opt, grads, "critic"
            )
            critic_metrics.append({**d_metrics, **norms})
        # Averaged over the critic iterations, so each logged value sees every real batch.
        d_metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *critic_metrics)

        z = self.sample_noise(jax.random.fold_in(rng, self.n_critic), n)

        def generator_loss(p):
            return -jnp.mean(critic(d_params, self.generator.apply({"params": p}, z)))

        g_loss, g_grads = base.value_and_grad(generator_loss)(g_params)
        g_params, g_opt, g_norms = base.apply_gradients(
            ctx.optimizers["generator"], g_params, opt_state["generator"], g_grads, "generator"
        )
        metrics = {**d_metrics, **g_norms, "loss/generator": g_loss}
        state = state.replace(
            params={"generator": g_params, "critic": d_params},
            opt_state={"generator": g_opt, "critic": d_opt},
        )
        return state, metrics
