"""StyleGAN2 (Karras et al. 2020): the non-saturating logistic loss with lazy R1 and
path-length regularisation, style mixing, and optional DiffAugment or ADA.

One train step is one discriminator step then one generator step (the official "Dmain" and
"Gmain"). Lazy regularisation (section 4 and appendix B) is the objective's phases: R1 joins
the discriminator's loss every `r1_interval` steps and the path-length penalty the
generator's every `pl_interval` steps, each multiplied by its interval so that its
strength is that of a penalty applied at every step; phase(step) is a function of the step
count alone, so a resumed run regularises at the same steps. The phases ("main", "pl",
"r1", "r1_pl") are separate compiled steps: no step computes a penalty it then discards
(a `lax.cond` inside one step would compile both branches into one program).

    discriminator: softplus(D(aug(G(w)))) + softplus(-D(aug(x)))
                   + [r1 steps] r1_interval * gamma / 2 * ||grad_x D(aug(x))||^2
    generator:     softplus(-D(aug(G(w))))
                   + [pl steps] pl_interval * pl_weight * (||J_w^T y|| - a)^2,
                   y ~ N(0, I) / sqrt(H * W), a the running mean of ||J_w^T y|| (decay 0.01)

R1's gradient is taken with respect to the image before augmentation (ADA's choice: the
augmentation is part of the discriminator). The path-length penalty runs on a batch
`pl_batch_shrink` times smaller, as the official code does; its mean `a` is objective state.

Style mixing (section 3.1 of StyleGAN, kept in StyleGAN2): with probability
`style_mixing`, a second w from a second z drives the layers from a random crossover on.
The generator tracks the mean w (decay 0.995) in its model state "w_avg", for truncation:
w' = w_avg + psi (w - w_avg) (`sample_truncated`, `gendl.sample --truncation=psi`). The
predict functions `map_latents`, `mean_w`, `synthesize` (ws per layer, optional noise maps)
and `noise_maps` serve the style-mixing and truncation grids (gendl.evaluation.style_grids)
and the projector (gendl.project).

Augmentation (config.objective.augment): "diffaug" (gendl/augment/diffaugment.py) or "ada"
(gendl/augment/ada.py) on every image the discriminator sees, in both steps. ADA's p lives
in the objective state with the signs of D(real) seen since its last adjustment, so a
resumed run continues with the same p.

MNIST's 28x28 digits are padded to the model's 32x32 with the background 0 and samples are
cropped back, as ProGAN does.
"""

import math

import jax
import jax.numpy as jnp

from gendl.augment import ada, diffaugment
from gendl.config import ConfigError
from gendl.models import stylegan2 as sg2
from gendl.objectives import base, gan

AUGMENTS = ("", "diffaug", "ada")


def pad_to(x, resolution):
    """Centre images [n, h, w, c] in a resolution x resolution canvas of zeros."""
    h, w = x.shape[1:3]
    top, left = (resolution - h) // 2, (resolution - w) // 2
    pads = ((0, 0), (top, resolution - h - top), (left, resolution - w - left), (0, 0))
    return jnp.pad(x, pads)


def crop_to(x, shape):
    h, w = shape[:2]
    top, left = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
    return x[:, top : top + h, left : left + w]


def r1_penalty(score_fn, real):
    """Per-sample ||grad_x sum score_fn(x)||^2 at x = real (Mescheder et al. 2018)."""
    grads = jax.grad(lambda x: jnp.sum(score_fn(x)))(real)
    return jnp.sum(jnp.square(grads), axis=tuple(range(1, real.ndim)))


def path_lengths(synthesize, ws, key):
    """Per-sample ||J_w^T y||, y ~ N(0, I) / sqrt(H * W), for images = synthesize(ws):
    the squared norm summed over w's dimensions, averaged over the layers' w's (official
    pl_lengths), square-rooted."""
    images, pullback = jax.vjp(synthesize, ws)
    h, w = images.shape[1:3]
    y = jax.random.normal(key, images.shape, images.dtype) / math.sqrt(h * w)
    (grads,) = pullback(y)  # = grad_ws sum(images * y)
    return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=-1), axis=-1))


def mix_styles(w1, w2, num_ws, key, prob):
    """[n, num_ws, d]: w1 for the layers before a crossover drawn uniformly from
    1..num_ws-1 with probability `prob` (one per batch, as the official), w2 after it."""
    kc, kp = jax.random.split(key)
    cutoff = jax.random.randint(kc, (), 1, num_ws)
    cutoff = jnp.where(jax.random.uniform(kp, ()) < prob, cutoff, num_ws)
    first = (jnp.arange(num_ws) < cutoff)[None, :, None]
    return jnp.where(first, w1[:, None], w2[:, None])


class StyleGan2(base.Objective):
    ema_networks = ("generator",)

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        cfg = config.objective
        self.generator, self.discriminator = networks["generator"], networks["discriminator"]
        self.resolution = self.generator.resolution
        self.num_ws = self.generator.num_ws
        self.z_dim = int(config.model.z_dim)
        self.num_classes = int(config.model.get("num_classes", 0))
        self.conditional = self.num_classes > 0
        self.r1_gamma, self.r1_interval = float(cfg.r1_gamma), int(cfg.r1_interval)
        self.pl_weight, self.pl_interval = float(cfg.pl_weight), int(cfg.pl_interval)
        self.pl_batch_shrink, self.pl_decay = int(cfg.pl_batch_shrink), float(cfg.pl_decay)
        self.style_mixing = float(cfg.style_mixing)
        self.w_avg_beta = float(cfg.get("w_avg_beta", 0.995))
        if min(self.r1_interval, self.pl_interval, self.pl_batch_shrink) < 0:
            raise ConfigError(
                "config.objective.r1_interval, pl_interval (0: no penalty) and pl_batch_shrink "
                "must be >= 0."
            )
        self.augment = str(cfg.get("augment", ""))
        if self.augment not in AUGMENTS:
            raise ConfigError(
                f"config.objective.augment={self.augment!r}; use '' (none), 'diffaug' "
                "(DiffAugment) or 'ada' (adaptive discriminator augmentation)."
            )
        if self.augment == "diffaug":
            self.diffaug_ops = diffaugment.parse_policy(str(cfg.get("diffaug_policy", "")))
        self.ada_target = float(cfg.get("ada_target", 0.6))
        self.ada_interval = int(cfg.get("ada_interval", 4))
        self.ada_kimg = float(cfg.get("ada_kimg", 500))
        self.ada_p_init = float(cfg.get("ada_p_init", 0.0))

    # --- Phases: lazy regularisation.
    def _regularised(self, step):
        r1 = self.r1_interval > 0 and self.r1_gamma > 0 and step % self.r1_interval == 0
        pl = self.pl_interval > 0 and self.pl_weight > 0 and step % self.pl_interval == 0
        return r1, pl

    def phases(self):
        out = ["main"]
        if self.pl_interval and self.pl_weight:
            out.append("pl")
        if self.r1_interval and self.r1_gamma:
            out.append("r1")
            if self.pl_interval and self.pl_weight:
                out.append("r1_pl")
        return tuple(out)

    def phase(self, step):
        r1, pl = self._regularised(step)
        return {(False, False): "main", (False, True): "pl", (True, False): "r1"}.get(
            (r1, pl), "r1_pl"
        )

    def init_objective_state(self, rng):
        del rng
        state = {"pl_mean": jnp.float32(0.0)}
        if self.augment == "ada":
            state.update(
                ada_p=jnp.float32(self.ada_p_init),
                ada_sign_sum=jnp.float32(0.0),
                ada_count=jnp.float32(0.0),
            )
        return state

    # --- Networks.
    def init(self, rng):
        kg, kd = jax.random.split(rng)
        z = jnp.zeros((1, self.z_dim))
        labels = jnp.zeros((1,), jnp.int32) if self.conditional else None
        x = jnp.zeros((1, self.resolution, self.resolution, self.image_shape[-1]))
        g = dict(self.generator.init(kg, z, labels))
        g["w_avg"] = {"w": jnp.zeros((self.generator.w_dim,))}
        return {"generator": g, "discriminator": dict(self.discriminator.init(kd, x, labels))}

    def _map(self, params, z, labels):
        return self.generator.apply({"params": params}, z, labels, method=sg2.Generator.map)

    def _synthesize(self, params, ws, noise_key=None):
        return self.generator.apply(
            {"params": params}, ws, noise_key, method=sg2.Generator.synthesize
        )

    def _score(self, params, images, labels, key, p):
        return self.discriminator.apply({"params": params}, self._augment(images, key, p), labels)

    def _augment(self, x, key, p):
        if self.augment == "diffaug":
            return diffaugment.augment(x, key, self.diffaug_ops)
        if self.augment == "ada":
            return ada.augment(x, key, p)
        return x

    # --- Sampling.
    def latents(self, rng, n):
        return gan.draw_latents(rng, n, self.z_dim, self.num_classes)

    def sample_noise(self, rng, n):
        """As the GAN family's: class r in grid row r, the same z down a column."""
        return gan.grid_noise(rng, n, self.z_dim, self.num_classes)

    def map_latents(self, variables, noise, labels=None):
        """w [n, w_dim] of latents `noise` (or a dict of "z" and "label") through the
        mapping network (conditional models without labels: class i % K for latent i)."""
        if isinstance(noise, dict):
            noise, labels = noise["z"], noise["label"]
        if self.conditional and labels is None:
            labels = jnp.arange(noise.shape[0]) % self.num_classes
        return self._map(variables["generator"]["params"], noise, labels)

    def mean_w(self, variables):
        """The tracked mean w [w_dim] (truncation's centre, the projector's start)."""
        return variables["generator"]["w_avg"]["w"]

    def synthesize(self, variables, ws, noises=None):
        """Images in [0, 1] of the data's shape from one w per layer, ws [n, num_ws, w_dim];
        `noises`: per-layer noise maps (default: the fixed ones, `noise_maps`)."""
        images = self.generator.apply(
            {"params": variables["generator"]["params"]},
            ws,
            None,
            noises,
            method=sg2.Generator.synthesize,
        )
        return jnp.clip((crop_to(images, self.image_shape) + 1.0) / 2.0, 0.0, 1.0)

    def noise_maps(self, variables):
        """The generator's fixed per-layer noise maps (what sampling uses), in layer order."""
        del variables
        return sg2.const_noise(self.resolution)

    def sample_truncated(self, variables, noise, psi, labels=None):
        """Images in [0, 1] of the data's shape, w truncated towards the tracked mean by psi
        (1: none; 0: every image the mean w's)."""
        w = self.map_latents(variables, noise, labels)
        w_avg = self.mean_w(variables)
        w = w_avg + psi * (w - w_avg)
        return self.synthesize(
            variables, jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, w.shape[-1]))
        )

    def sample(self, variables, noise, labels=None):
        return self.sample_truncated(variables, noise, 1.0, labels)

    def predictors(self):
        return {
            "sample": self.sample,
            "sample_noise": self.sample_noise,
            "sample_truncated": self.sample_truncated,
            "latents": self.latents,
            "map_latents": self.map_latents,
            "mean_w": self.mean_w,
            "synthesize": self.synthesize,
            "noise_maps": self.noise_maps,
        }

    # --- The train step.
    def _styles(self, g_params, key, n, labels):
        """Mixed ws [n, num_ws, w_dim] and the first w of each sample."""
        k1, k2, km = jax.random.split(key, 3)
        w1 = self._map(g_params, jax.random.normal(k1, (n, self.z_dim)), labels)
        if not self.style_mixing:
            return jnp.broadcast_to(w1[:, None], (n, self.num_ws, w1.shape[-1])), w1
        w2 = self._map(g_params, jax.random.normal(k2, (n, self.z_dim)), labels)
        return mix_styles(w1, w2, self.num_ws, km, self.style_mixing), w1

    def _labels(self, key, n):
        return jax.random.randint(key, (n,), 0, self.num_classes) if self.conditional else None

    def update(self, state, ctx, batch, rng):
        r1_on, pl_on = {"main": (0, 0), "pl": (0, 1), "r1": (1, 0), "r1_pl": (1, 1)}[ctx.phase]
        params, opt_state, obj = state.params, state.opt_state, dict(state.objective_state)
        g_params, d_params = params["generator"], params["discriminator"]
        real = pad_to(batch["image"][0], self.resolution) * 2.0 - 1.0
        real_labels = batch["label"][0] if self.conditional else None
        n = real.shape[0]
        p = obj.get("ada_p", jnp.float32(0.0))
        keys = jax.random.split(rng, 8)

        # Discriminator: logistic loss (+ R1, lazily).
        fake_labels = self._labels(keys[0], n)
        ws, _ = self._styles(g_params, keys[1], n, fake_labels)
        fake = jax.lax.stop_gradient(self._synthesize(g_params, ws, keys[2]))

        def d_loss(dp):
            fake_logits = self._score(dp, fake, fake_labels, keys[3], p)
            real_score = lambda x: self._score(dp, x, real_labels, keys[4], p)
            real_logits = real_score(real)
            loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
            metrics = {
                "loss/discriminator": loss,
                "d_real": jnp.mean(real_logits),
                "d_fake": jnp.mean(fake_logits),
                "d_real_sign": jnp.mean(jnp.sign(real_logits)),
            }
            if r1_on:
                r1 = jnp.mean(r1_penalty(real_score, real))
                loss = loss + r1 * (self.r1_gamma / 2.0) * self.r1_interval
                metrics["r1_penalty"] = r1
            return loss, (metrics, jnp.sum(jnp.sign(real_logits)))

        grads, (d_metrics, sign_sum) = base.grad(d_loss, has_aux=True)(d_params)
        d_params, d_opt, d_norms = base.apply_gradients(
            ctx.optimizers["discriminator"],
            d_params,
            opt_state["discriminator"],
            grads,
            "discriminator",
        )

        # Generator: non-saturating loss (+ path length, lazily).
        g_labels = self._labels(keys[5], n)

        def g_loss(gp):
            ws, w1 = self._styles(gp, keys[6], n, g_labels)
            fake = self._synthesize(gp, ws, jax.random.fold_in(keys[6], 1))
            logits = self._score(d_params, fake, g_labels, keys[7], p)
            loss = jnp.mean(jax.nn.softplus(-logits))
            metrics = {"loss/generator": loss}
            pl_mean = obj["pl_mean"]
            if pl_on:
                m = max(n // max(self.pl_batch_shrink, 1), 1)
                kz, kn, ky = jax.random.split(jax.random.fold_in(keys[6], 2), 3)
                pl_ws, _ = self._styles(gp, kz, m, None if g_labels is None else g_labels[:m])
                synth = lambda w: self._synthesize(gp, w, kn)
                lengths = path_lengths(synth, pl_ws, ky)
                pl_mean = jax.lax.stop_gradient(
                    pl_mean + self.pl_decay * (jnp.mean(lengths) - pl_mean)
                )
                penalty = jnp.mean(jnp.square(lengths - pl_mean))
                loss = loss + penalty * self.pl_weight * self.pl_interval
                metrics.update(pl_penalty=penalty, pl_length=jnp.mean(lengths))
            return loss, (metrics, pl_mean, jnp.mean(w1, axis=0))

        grads, (g_metrics, pl_mean, w_mean) = base.grad(g_loss, has_aux=True)(g_params)
        g_params, g_opt, g_norms = base.apply_gradients(
            ctx.optimizers["generator"], g_params, opt_state["generator"], grads, "generator"
        )

        # Objective state: the path-length mean, ADA's p; the generator's tracked mean w.
        obj["pl_mean"] = pl_mean
        metrics = {**d_metrics, **d_norms, **g_metrics, **g_norms, "pl_mean": pl_mean}
        if self.augment == "ada":
            obj = self._ada_update(obj, state.step, sign_sum, n)
            metrics["ada_p"] = obj["ada_p"]
        w_avg = state.model_state["generator"]["w_avg"]["w"]
        w_avg = w_mean + (w_avg - w_mean) * self.w_avg_beta
        model_state = {**state.model_state, "generator": {"w_avg": {"w": w_avg}}}
        state = state.replace(
            params={"generator": g_params, "discriminator": d_params},
            opt_state={"generator": g_opt, "discriminator": d_opt},
            model_state=model_state,
            objective_state=obj,
        )
        return state, metrics

    def _ada_update(self, obj, step, sign_sum, n):
        """Accumulates sign(D(real)); every ada_interval steps adjusts p and starts over."""
        total, count = obj["ada_sign_sum"] + sign_sum, obj["ada_count"] + n
        due = (step + 1) % self.ada_interval == 0
        new_p = ada.adjust_p(
            obj["ada_p"],
            total,
            count,
            batch_size=n,
            interval=self.ada_interval,
            target=self.ada_target,
            speed_kimg=self.ada_kimg,
        )
        return {
            **obj,
            "ada_p": jnp.where(due, new_p, obj["ada_p"]),
            "ada_sign_sum": jnp.where(due, 0.0, total),
            "ada_count": jnp.where(due, 0.0, count),
        }
