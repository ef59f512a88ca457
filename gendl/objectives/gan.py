"""Adversarial training of a generator against a discriminator, one objective for the GAN
family: the loss (gan_losses.KINDS), the number of discriminator steps per generator step,
conditioning on labels, an auxiliary classifier and weight clipping are settings.

  GAN (Goodfellow et al. 2014)      loss minimax | non_saturating
  cGAN (Mirza & Osindero 2014)      model.num_classes > 0: labels fed to both networks
  DCGAN (Radford et al. 2015)       non_saturating, batch norm in the networks
  WGAN (Arjovsky et al. 2017)       wasserstein, n_critic 5, weight_clip 0.01 (RMSProp)
  LSGAN (Mao et al. 2017)           least_squares
  SNGAN (Miyato et al. 2018)        hinge, spectral norm in the discriminator
  ACGAN (Odena et al. 2017)         model.aux_classifier: the discriminator also classifies;
                                    both networks add aux_weight * cross-entropy of the class
  BGAN (Hjelm et al. 2018)          boundary_seeking; log_z_decay > 0: the generator's target
                                    logit is a running mean of the batch's log Z (its decay;
                                    kept in `state.objective_state`), as the authors' code

One train step: `n_critic` discriminator steps, each on a fresh real batch and fresh noise
and fake labels (uniform over classes), then one generator step on fresh noise. Batch norm
normalises real and fake batches separately, as the DCGAN reference does. The networks'
non-parameter state (batch statistics, spectral-norm vectors) lives in `state.model_state`
and advances with every training forward pass of its network, except that the
discriminator's is not advanced by the generator's step. With `config.ema.decay` > 0,
samples come from the averaged generator weights with the running batch statistics of the
trained generator (not re-estimated for the average).
"""

import math

import jax
import jax.numpy as jnp
import optax

from gendl.config import ConfigError
from gendl.objectives import base, gan_losses


def clip_weights(params, bound: float):
    """Every parameter clipped to [-bound, bound] (WGAN's crude Lipschitz constraint, applied
    to all of the critic's parameters as in the reference code)."""
    return jax.tree.map(lambda p: jnp.clip(p, -bound, bound), params)


def _mean_metrics(steps):
    return jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *steps)


def draw_latents(rng, n, z_dim, num_classes=0):
    """Noise [n, z_dim] and uniformly drawn labels [n] (None when num_classes is 0)."""
    kz, ky = jax.random.split(rng)
    z = jax.random.normal(kz, (n, z_dim))
    labels = jax.random.randint(ky, (n,), 0, num_classes) if num_classes else None
    return z, labels


def grid_noise(rng, n, z_dim, num_classes=0):
    """A sample grid's generator inputs: noise [n, z_dim]; conditional (num_classes > 0): a
    dict whose labels go by grid row (class r in row r, cycling) and whose noise goes by
    column (the same z down a column), for the near-square grid of ceil(sqrt(n)) columns."""
    if not num_classes:
        return jax.random.normal(rng, (n, z_dim))
    ncol = math.ceil(math.sqrt(n))
    columns = jax.random.normal(rng, (ncol, z_dim))
    index = jnp.arange(n)
    return {"z": columns[index % ncol], "label": (index // ncol) % num_classes}


class Gan(base.Objective):
    ema_networks = ("generator",)

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        cfg = config.objective
        self.loss = cfg.get("loss", "non_saturating")
        if self.loss not in gan_losses.KINDS:
            raise ConfigError(
                f"config.objective.loss={self.loss!r}; use one of {', '.join(gan_losses.KINDS)}."
            )
        self.n_critic = int(cfg.get("n_critic", 1))
        if self.n_critic < 1:
            raise ConfigError(f"config.objective.n_critic must be >= 1, got {self.n_critic}.")
        self.weight_clip = float(cfg.get("weight_clip", 0.0))
        # The WGAN reference code's critic bursts: `critic_burst` critic steps (0: off) in
        # each of the first `burst_first` steps and every `burst_every`-th (0: never) after.
        self.critic_burst = int(cfg.get("critic_burst", 0))
        self.burst_first = int(cfg.get("burst_first", 0))
        self.burst_every = int(cfg.get("burst_every", 0))
        if self.critic_burst < 0 or self.burst_first < 0 or self.burst_every < 0:
            raise ConfigError(
                "config.objective.critic_burst, burst_first and burst_every must be >= 0, got "
                f"{self.critic_burst}, {self.burst_first}, {self.burst_every}."
            )
        self.log_z_decay = float(cfg.get("log_z_decay", 0.0))
        if not 0.0 <= self.log_z_decay < 1.0:
            raise ConfigError(
                f"config.objective.log_z_decay must be in [0, 1), got {self.log_z_decay}."
            )
        if self.log_z_decay and self.loss != "boundary_seeking":
            raise ConfigError(
                "config.objective.log_z_decay is a setting of the boundary_seeking loss; "
                f"this config's loss is {self.loss!r}."
            )
        self.aux_weight = float(cfg.get("aux_weight", 1.0))
        # ACGAN: weight of the class cross-entropy on fakes in the discriminator's loss (1: the
        # paper's L_C; 0: the class head learns from real images only, so the generator cannot
        # satisfy it with marks that only the discriminator reads).
        self.aux_fake_weight = float(cfg.get("aux_fake_weight", 1.0))
        self.z_dim = int(config.model.z_dim)
        self.num_classes = int(config.model.get("num_classes", 0))
        self.aux_classifier = bool(config.model.get("aux_classifier", False))
        if self.aux_classifier and not self.num_classes:
            raise ConfigError("model.aux_classifier needs model.num_classes > 0 (e.g. 10).")
        self.conditional = self.num_classes > 0
        self.batches_per_step = self.n_critic
        self.generator, self.discriminator = networks["generator"], networks["discriminator"]

    # --- network calls with their non-parameter state
    _apply = staticmethod(base.apply_network)

    def _split(self, out):
        return out if self.aux_classifier else (out, None)

    # --- critic bursts: their own phase, compiled once, reading more real batches
    def phases(self):
        return ("train", "burst") if self.critic_burst else ("train",)

    def phase(self, step):
        if not self.critic_burst:
            return "train"
        every = self.burst_every and step % self.burst_every == 0
        return "burst" if step < self.burst_first or every else "train"

    def batches_at(self, step):
        return self.critic_burst if self.phase(step) == "burst" else self.n_critic

    def batches_before(self, step):
        if not self.critic_burst:
            return step * self.n_critic
        bursts = min(step, self.burst_first)  # the first steps, then every burst_every-th
        if self.burst_every and step > self.burst_first:
            multiples_below = lambda x: -(-x // self.burst_every)  # of burst_every in [0, x)
            bursts += multiples_below(step) - multiples_below(self.burst_first)
        return step * self.n_critic + bursts * (self.critic_burst - self.n_critic)

    def latents(self, rng, n):
        """Noise [n, z_dim] and uniformly drawn labels [n] (None if unconditional)."""
        return draw_latents(rng, n, self.z_dim, self.num_classes if self.conditional else 0)

    def _class_loss(self, aux, labels):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(aux, labels))

    # --- Objective interface
    def init(self, rng):
        kg, kd = jax.random.split(rng)
        z, labels = self.latents(jax.random.key(0), 1)
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        return {
            "generator": dict(self.generator.init(kg, z, labels, train=False)),
            "discriminator": dict(self.discriminator.init(kd, x, labels, train=False)),
        }

    def init_objective_state(self, rng):
        del rng
        # log Z starts at 0, the target of the plain boundary-seeking loss (the authors' too).
        return {"log_z": jnp.float32(0.0)} if self.log_z_decay else {}

    def sample_noise(self, rng, n):
        """Generator inputs for a sample grid. Conditional models: a dict whose labels go by
        grid row (class r in row r, cycling) and whose noise goes by column (the same z down
        a column), for the default near-square grid of ceil(sqrt(n)) columns."""
        return grid_noise(rng, n, self.z_dim, self.num_classes if self.conditional else 0)

    def sample(self, variables, noise, labels=None):
        if isinstance(noise, dict):
            noise, labels = noise["z"], noise["label"]
        if self.conditional and labels is None:
            labels = jnp.arange(noise.shape[0]) % self.num_classes
        return self.generator.apply(variables["generator"], noise, labels, train=False)

    def predictors(self):
        return {"sample": self.sample, "sample_noise": self.sample_noise, "latents": self.latents}

    def update(self, state, ctx, batch, rng):
        params, opt_state = state.params, state.opt_state
        g_params, d_params = params["generator"], params["discriminator"]
        g_opt, d_opt = opt_state["generator"], opt_state["discriminator"]
        g_state = state.model_state.get("generator", {})
        d_state = state.model_state.get("discriminator", {})
        n = batch["image"].shape[1]

        def d_loss_fn(p, d_state, real, y_real, fake, y_fake, rng):
            k_real, k_fake = jax.random.split(rng)
            out_real, d_state = self._apply(
                self.discriminator, p, d_state, real, y_real, train=True, rng=k_real
            )
            out_fake, d_state = self._apply(
                self.discriminator, p, d_state, fake, y_fake, train=True, rng=k_fake
            )
            (real_logit, real_aux), (fake_logit, fake_aux) = (
                self._split(out_real),
                self._split(out_fake),
            )
            adv = gan_losses.discriminator_loss(self.loss, real_logit, fake_logit)
            metrics = {
                "d_real": jnp.mean(real_logit),
                "d_fake": jnp.mean(fake_logit),
            }
            loss = adv
            if self.aux_classifier:
                cls_fake = self._class_loss(fake_aux, y_fake)
                if self.aux_fake_weight != 1.0:  # python-level: the paper's loss stays bitwise
                    cls_fake = self.aux_fake_weight * cls_fake
                cls = self._class_loss(real_aux, y_real) + cls_fake
                loss = loss + self.aux_weight * cls
                metrics["loss/discriminator_adversarial"] = adv
                metrics["loss/discriminator_class"] = cls
                metrics["accuracy/real"] = jnp.mean(jnp.argmax(real_aux, -1) == y_real)
            return loss, (d_state, {**metrics, "loss/discriminator": loss})

        def critic_step(carry, i, real, y_real):
            d_params, d_opt, d_state, g_state = carry
            k_latent, k_dropout = jax.random.split(jax.random.fold_in(rng, i))
            z, y_fake = self.latents(k_latent, n)
            fake, g_state = self._apply(self.generator, g_params, g_state, z, y_fake, train=True)
            (_, (d_state, m)), grads = base.value_and_grad(d_loss_fn, has_aux=True)(
                d_params, d_state, real, y_real, fake, y_fake, k_dropout
            )
            d_params, d_opt, norms = base.apply_gradients(
                ctx.optimizers["discriminator"], d_params, d_opt, grads, "discriminator"
            )
            if self.weight_clip:
                d_params = clip_weights(d_params, self.weight_clip)
            return (d_params, d_opt, d_state, g_state), {**m, **norms}

        critics = batch["image"].shape[0]  # n_critic, or critic_burst in a burst step
        labels = batch["label"] if self.conditional else None
        carry = (d_params, d_opt, d_state, g_state)
        if ctx.phase == "burst":
            # A scan: unrolled, a 100-step burst would compile for minutes (20 steps: 84 s on
            # the 2-core CPU). XLA:CPU runs the convolutions in its loop ~7x slower (0.7 s per
            # critic step of wgan.py at width 32, 0.1 unrolled; unroll=5 inside the scan: 0.5),
            # which is why wgan.py leaves the bursts off by default.
            xs = (jnp.arange(critics), batch["image"], labels)
            carry, stacked = jax.lax.scan(lambda c, x: critic_step(c, *x), carry, xs)
            d_metrics = jax.tree.map(lambda v: jnp.mean(v, 0), stacked)
        else:
            # Unrolled on purpose (as in wgan_gp): XLA:CPU runs convolutions inside a while
            # loop much slower than the same ops unrolled.
            steps = []
            for i in range(critics):
                y_real = labels[i] if self.conditional else None
                carry, m = critic_step(carry, i, batch["image"][i], y_real)
                steps.append(m)
            d_metrics = _mean_metrics(steps)
        d_params, d_opt, d_state, g_state = carry

        k_latent, k_dropout = jax.random.split(jax.random.fold_in(rng, critics))
        z, y_fake = self.latents(k_latent, n)

        def g_loss_fn(p):
            fake, new_g_state = self._apply(self.generator, p, g_state, z, y_fake, train=True)
            # The discriminator's own state is not advanced by the generator's step.
            out, _ = self._apply(
                self.discriminator, d_params, d_state, fake, y_fake, train=True, rng=k_dropout
            )
            logit, aux = self._split(out)
            log_z = state.objective_state["log_z"] if self.log_z_decay else None
            adv = gan_losses.generator_loss(self.loss, logit, log_z)
            loss, metrics = adv, {}
            if self.log_z_decay:
                metrics = {"log_z_batch": jax.lax.stop_gradient(gan_losses.log_normaliser(logit))}
            if self.aux_classifier:
                cls = self._class_loss(aux, y_fake)
                loss = loss + self.aux_weight * cls
                metrics = {
                    **metrics,
                    "loss/generator_adversarial": adv,
                    "loss/generator_class": cls,
                }
            return loss, (new_g_state, {**metrics, "loss/generator": loss})

        (_, (g_state, g_metrics)), g_grads = base.value_and_grad(g_loss_fn, has_aux=True)(g_params)
        g_params, g_opt, g_norms = base.apply_gradients(
            ctx.optimizers["generator"], g_params, g_opt, g_grads, "generator"
        )
        model_state = {
            name: s for name, s in (("generator", g_state), ("discriminator", d_state)) if s
        }
        objective_state = state.objective_state
        if self.log_z_decay:  # after the step, as the authors' code updates it
            old = objective_state["log_z"]
            new = self.log_z_decay * old + (1.0 - self.log_z_decay) * g_metrics["log_z_batch"]
            objective_state = {**objective_state, "log_z": new}
            g_metrics = {**g_metrics, "log_z": old}
        state = state.replace(
            params={"generator": g_params, "discriminator": d_params},
            opt_state={"generator": g_opt, "discriminator": d_opt},
            model_state=model_state,
            objective_state=objective_state,
        )
        # Discriminator metrics averaged over its steps, so each logged value sees every batch.
        return state, {**d_metrics, **g_metrics, **g_norms}
