"""ProGAN (Karras et al. 2018): WGAN-GP with the drift term, trained while the networks grow.

The resolution schedule is the objective's phases: "res4" for `stable_steps`, then for each
doubling "fade<R>" (`fade_steps`, the new layers blended in by alpha from 0 towards 1) and
"res<R>" (`stable_steps`; the last resolution until the end of the run). Alpha is a function
of the step count, (step - fade start) / fade_steps, so a run stopped anywhere in a fade-in
resumes with exactly the alpha it would have had. The real images are shown to the
discriminator at the current resolution (box-filtered down) and, during a fade-in, blended
between it and the previous resolution by the same alpha (the official code's crossfade).

Losses (the paper's section 6.1 / appendix A.1, n_critic = 1):
    discriminator: E[D(fake)] - E[D(real)] + gp_weight * GP + drift * E[D(real)^2]
    generator:     -E[D(G(z))]
with GP the WGAN-GP penalty (target norm 1, lambda 10) and drift epsilon = 0.001.

Images smaller than the model's resolution (MNIST's 28x28 in a 32x32 model) are padded with
the background value 0 (in [0, 1]) for training, and samples are cropped back to the data's
shape, so evaluators and the sample-quality classifier see the data's own image size.

The generator's current level, (L - 1) + alpha while level L fades in and L once it is
stable, is kept in its model state ("progress"), so samples and evaluations drawn mid-run
show the resolution being trained (upscaled to full size), and a finished run's the last.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import equalized as eq
from gendl.models import progan as progan_models
from gendl.objectives import base
from gendl.objectives.wgan_gp import gradient_penalty


def schedule(top_level: int, stable_steps: int, fade_steps: int) -> list:
    """[(phase name, level, fading, first step)] from 4x4 up to 2**top_level."""
    out, step = [("res4", 2, False, 0)], stable_steps
    for level in range(3, top_level + 1):
        r = 2**level
        out.append((f"fade{r}", level, True, step))
        out.append((f"res{r}", level, False, step + fade_steps))
        step += fade_steps + stable_steps
    return out


class ProGan(base.Objective):
    ema_networks = ("generator",)  # the paper's Gs (config.ema.decay=0.999)

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        cfg = config.objective
        self.n_critic = int(cfg.get("n_critic", 1))
        self.stable_steps, self.fade_steps = int(cfg.stable_steps), int(cfg.fade_steps)
        if self.n_critic < 1 or self.stable_steps < 1 or self.fade_steps < 1:
            raise ConfigError(
                "config.objective.n_critic, stable_steps and fade_steps must be >= 1, got "
                f"{self.n_critic}, {self.stable_steps}, {self.fade_steps}."
            )
        self.batches_per_step = self.n_critic
        self.gp_weight = float(cfg.gp_weight)
        self.drift = float(cfg.drift)
        self.z_dim = int(config.model.z_dim)
        self.generator, self.discriminator = networks["generator"], networks["discriminator"]
        self.resolution = self.generator.resolution
        self.top = progan_models.resolution_levels(self.resolution)
        self._schedule = schedule(self.top, self.stable_steps, self.fade_steps)
        self._by_name = {name: (lv, fading, start) for name, lv, fading, start in self._schedule}

    # --- The growth schedule.
    def phases(self):
        return tuple(name for name, *_ in self._schedule)

    def phase(self, step):
        current = self._schedule[0][0]
        for name, _, _, start in self._schedule:
            if step >= start:
                current = name
        return current

    def level_and_alpha(self, phase, step):
        """(static level, alpha) of train step `step` (traced or not) in `phase`."""
        level, fading, start = self._by_name[phase]
        if not fading:
            return level, jnp.float32(1.0)
        t = (jnp.asarray(step, jnp.float32) - start) / self.fade_steps
        return level, jnp.clip(t, 0.0, 1.0)

    # --- Images: padding to the model's resolution, the current level's reals.
    def _pad(self, x):
        h, w = self.image_shape[:2]
        top, left = (self.resolution - h) // 2, (self.resolution - w) // 2
        pads = ((0, 0), (top, self.resolution - h - top), (left, self.resolution - w - left))
        return jnp.pad(x, (*pads, (0, 0)))

    def _crop(self, x):
        h, w = self.image_shape[:2]
        top, left = (self.resolution - h) // 2, (self.resolution - w) // 2
        return x[:, top : top + h, left : left + w]

    def reals(self, images, level, alpha):
        """Images in [0, 1] of the data's shape -> [-1, 1] at 2**level, crossfaded by alpha."""
        x = self._pad(images) * 2.0 - 1.0
        x = eq.downscale2d(x, 2 ** (self.top - level)) if level < self.top else x
        if level > 2:
            x = eq.lerp(eq.upscale2d(eq.downscale2d(x)), x, alpha)
        return x

    # --- Networks.
    def init(self, rng):
        z = self.sample_noise(rng, 1)
        x = jnp.zeros((1, self.resolution, self.resolution, self.image_shape[-1]))
        variables = base.init_networks(
            self.networks, rng, {"generator": (z,), "discriminator": (x,)}
        )
        variables["generator"]["progress"] = {"level": jnp.float32(2.0)}
        return variables

    def sample_noise(self, rng, n):
        return jax.random.normal(rng, (n, self.z_dim))

    def sample(self, variables, noise):
        """Images in [0, 1] of the data's shape at the generator's recorded level."""
        v = variables["generator"]
        p = v["progress"]["level"]
        level = jnp.clip(jnp.ceil(p), 2, self.top)
        alpha = jnp.where(level > 2, p - (level - 1), 1.0)

        def at(lv):
            def branch(noise, alpha):
                x = self.generator.apply({"params": v["params"]}, noise, lv, alpha)
                return eq.upscale2d(x, 2 ** (self.top - lv)) if lv < self.top else x

            return branch

        branches = [at(lv) for lv in range(2, self.top + 1)]
        x = jax.lax.switch(level.astype(jnp.int32) - 2, branches, noise, alpha)
        return jnp.clip((self._crop(x) + 1.0) / 2.0, 0.0, 1.0)

    def predictors(self):
        return {"sample": self.sample, "sample_noise": self.sample_noise}

    # --- The train step.
    def update(self, state, ctx, batch, rng):
        level, alpha = self.level_and_alpha(ctx.phase, state.step)
        params, opt_state = state.params, state.opt_state
        g_params = params["generator"]
        d_params, d_opt = params["discriminator"], opt_state["discriminator"]
        gen = lambda p, z: self.generator.apply({"params": p}, z, level, alpha)
        disc = lambda p, x: self.discriminator.apply({"params": p}, x, alpha)

        def d_loss(p, real, fake, eps):
            d_real, d_fake = disc(p, real), disc(p, fake)
            gp, norms = gradient_penalty(lambda x: disc(p, x), real, fake, eps)
            w_dist = jnp.mean(d_real) - jnp.mean(d_fake)
            drift = jnp.mean(jnp.square(d_real))
            loss = -w_dist + self.gp_weight * gp + self.drift * drift
            return loss, {
                "loss/discriminator": loss,
                "wasserstein": w_dist,
                "gp": gp,
                "drift": drift,
                "gp_grad_norm": jnp.mean(norms),
            }

        d_metrics = []
        for i in range(self.n_critic):  # unrolled: see wgan_gp.py
            real = self.reals(batch["image"][i], level, alpha)
            n = real.shape[0]
            kz, ke = jax.random.split(jax.random.fold_in(rng, i))
            fake = gen(g_params, self.sample_noise(kz, n))
            grads, m = base.grad(d_loss, has_aux=True)(
                d_params, real, fake, jax.random.uniform(ke, (n,))
            )
            d_params, d_opt, norms = base.apply_gradients(
                ctx.optimizers["discriminator"], d_params, d_opt, grads, "discriminator"
            )
            d_metrics.append({**m, **norms})
        d_metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *d_metrics)

        z = self.sample_noise(jax.random.fold_in(rng, self.n_critic), n)
        g_loss, g_grads = base.value_and_grad(lambda p: -jnp.mean(disc(d_params, gen(p, z))))(
            g_params
        )
        g_params, g_opt, g_norms = base.apply_gradients(
            ctx.optimizers["generator"], g_params, opt_state["generator"], g_grads, "generator"
        )
        progress = (level - 1) + alpha if level > 2 else jnp.float32(level)
        model_state = {**state.model_state, "generator": {"progress": {"level": progress}}}
        state = state.replace(
            params={"generator": g_params, "discriminator": d_params},
            opt_state={"generator": g_opt, "discriminator": d_opt},
            model_state=model_state,
        )
        metrics = {**d_metrics, **g_norms, "loss/generator": g_loss, "alpha": alpha}
        return state, metrics
