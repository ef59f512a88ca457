"""MusicVAE (Roberts et al. 2018): a VAE over melody tokens (gendl.music.tokens), trained as
magenta's music_vae/base_model.py does:

    loss = E_b[sum_t CE(x_t, p(x_t | z, x_<t))]
           + beta(t) * E_b[max(KL(q(z | x) || N(0, I)) - free_nats, 0)]

with z = mu + sigma * eps (one sample), free_nats = free_bits * ln 2 (the KL below it costs
nothing: "free bits"), beta(t) = (1 - beta_rate ** t) * max_beta (t: train steps done), and
scheduled sampling: the decoder's input at each step is its own sampled previous output with
probability p(t) instead of the true previous token; p(t) follows magenta's schedules,
"inverse_sigmoid" p = 1 - k / (k + exp(t / k)) (k = sampling_rate), "exponential" p = 1 - k^t,
"constant" p = k. One gradient step updates encoder and decoder together (each network's
optimiser clips its own gradient norm: config.optimizer.grad_clip_norm, where magenta clips the
global norm of both together).

Data: feature "tokens" (uint8 [b, T]) of the "melodies" source. Augmentation on the fly:
every melody transposed by a uniform whole number of semitones in [-transpose, transpose],
drawn per example from the step's key; a shift that would leave the piano range is replaced
by 0 (no transposition) for that melody.

Samples: `sample` decodes prior draws z ~ N(0, I) with fixed Gumbel noise at
`objective.temperature` (argmax(logits / T + gumbel): a categorical draw at temperature T);
`reconstruct` and `decode` decode greedily (argmax). Pictures (piano rolls) and the test
metrics come from the "melody" evaluator (gendl.evaluation.melody), not the image sample grid.
"""

import math

import jax
import jax.numpy as jnp
import optax

from gendl.config import ConfigError
from gendl.models import music_vae as models
from gendl.music import tokens as tok
from gendl.objectives import base

SCHEDULES = ("constant", "inverse_sigmoid", "exponential")


def _one_minus_power(rate: float, step):
    """1 - rate ** step, as -expm1(step * ln rate) with ln rate taken in float64: float32
    holds 1 - 0.99999 only to three digits."""
    step = jnp.asarray(step, jnp.float32)
    if rate == 0.0:
        return (step > 0).astype(jnp.float32)
    return -jnp.expm1(step * math.log(rate))


def _onset_mean(correct, x):
    """Per melody: the share of its note onsets (token >= 2) decoded correctly (0 if none)."""
    onset = x > tok.NOTE_OFF
    return jnp.sum(correct & onset, axis=-1) / jnp.maximum(jnp.sum(onset, axis=-1), 1)


def beta(step, max_beta: float, rate: float):
    """(1 - rate ** step) * max_beta: magenta's KL weight annealing."""
    return _one_minus_power(rate, step) * max_beta


def sampling_probability(step, schedule: str, rate: float):
    """The probability of feeding the decoder its own sample at train step `step`."""
    step = jnp.asarray(step, jnp.float32)
    if schedule == "constant":
        return jnp.asarray(rate, jnp.float32)
    if schedule == "inverse_sigmoid":  # 1 - k / (k + e), written without the cancellation
        e = jnp.exp(jnp.minimum(step / rate, 80.0))
        return e / (rate + e)
    if schedule == "exponential":
        return _one_minus_power(rate, step)
    raise ConfigError(
        f"config.objective.sampling_schedule={schedule!r}; use one of {', '.join(SCHEDULES)}."
    )


def kl_normal(mu, sigma):
    """KL(N(mu, sigma^2) || N(0, 1)) summed over the latent dimensions: [b]."""
    return jnp.sum(0.5 * (mu**2 + sigma**2 - 1.0) - jnp.log(sigma), axis=-1)


def free_bits_cost(kl, free_bits: float):
    """max(KL - free_bits * ln 2, 0): the KL above the free budget (nats)."""
    return jnp.maximum(kl - free_bits * math.log(2.0), 0.0)


def transpose(tokens, shifts):
    """Pitch tokens shifted by `shifts` [b] semitones; melodies the shift would take out of
    the piano range are left as they are."""
    is_pitch = tokens >= 2
    lowest = jnp.min(jnp.where(is_pitch, tokens, tok.NUM_CLASSES), axis=1)
    highest = jnp.max(jnp.where(is_pitch, tokens, 0), axis=1)
    fits = (lowest + shifts >= 2) & (highest + shifts <= tok.NUM_CLASSES - 1)
    shifts = jnp.where(fits, shifts, 0)
    return jnp.where(is_pitch, tokens + shifts[:, None], tokens)


class MusicVae(base.Objective):
    generates_images = False
    # gendl.sample writes MIDI files and token arrays for this family.
    sample_kind = "melodies"

    def __init__(self, config, networks, spec):
        self.config, self.spec, self.networks = config, spec, networks
        self.image_shape = ()
        self.length = models.sequence_length(spec)
        self.encoder, self.decoder = networks["encoder"], networks["decoder"]
        self.latent = int(config.model.latent)
        cfg = config.objective
        self.max_beta = float(cfg.get("max_beta", 0.2))
        self.beta_rate = float(cfg.get("beta_rate", 0.0))
        self.free_bits = float(cfg.get("free_bits", 0.0))
        self.schedule = cfg.get("sampling_schedule", "constant")
        self.sampling_rate = float(cfg.get("sampling_rate", 0.0))
        sampling_probability(0, self.schedule, self.sampling_rate)  # checks the name
        self.max_transpose = int(cfg.get("transpose", 0))
        self.temperature = float(cfg.get("temperature", 1.0))

    def init(self, rng):
        ke, kd = jax.random.split(rng)
        x = jnp.zeros((1, self.length), jnp.int32)
        z = jnp.zeros((1, self.latent), jnp.float32)
        use = jnp.zeros((1, self.length), bool)
        g = jnp.zeros((1, self.length, tok.NUM_CLASSES), jnp.float32)
        return {
            "encoder": dict(self.encoder.init(ke, x)),
            "decoder": dict(self.decoder.init(kd, z, x, use, g)),
        }

    # --- the pieces the predictors and the train step share
    def _posterior(self, encoder_variables, x):
        return self.encoder.apply(encoder_variables, x.astype(jnp.int32))

    def _decode(self, decoder_variables, z, targets=None, use_sample=None, gumbel=None, t=1.0):
        n = z.shape[0]
        targets = jnp.zeros((n, self.length), jnp.int32) if targets is None else targets
        use_sample = jnp.ones((n, self.length), bool) if use_sample is None else use_sample
        gumbel = jnp.zeros((n, self.length, tok.NUM_CLASSES)) if gumbel is None else gumbel
        return self.decoder.apply(decoder_variables, z, targets, use_sample, gumbel, t)

    def _terms(self, variables, x, rng, use_sample=None, gumbel=None):
        """Per example: (reconstruction nats, KL nats, logits, mu, sigma)."""
        x = x.astype(jnp.int32)
        mu, sigma = self._posterior(variables["encoder"], x)
        z = mu + sigma * jax.random.normal(rng, mu.shape)
        if use_sample is None:
            use_sample = jnp.zeros(x.shape, bool)
        logits, _ = self._decode(variables["decoder"], z, x, use_sample, gumbel)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, x)
        return jnp.sum(ce, axis=-1), kl_normal(mu, sigma), logits, mu, sigma

    # --- predict functions
    def encode(self, variables, x, labels=None):
        return self._posterior(variables["encoder"], x)[0]

    def decode(self, variables, z):
        """Greedy (argmax) tokens [n, T] of codes z [n, latent]."""
        return self._decode(variables["decoder"], z)[1]

    def reconstruct(self, variables, x, labels=None):
        return self.decode(variables, self.encode(variables, x))

    def sample_noise(self, rng, n):
        kz, kg = jax.random.split(rng)
        return {
            "z": jax.random.normal(kz, (n, self.latent)),
            "gumbel": jax.random.gumbel(kg, (n, self.length, tok.NUM_CLASSES)),
        }

    def sample(self, variables, noise):
        """Tokens [n, T] int32 of prior codes, drawn at objective.temperature."""
        _, tokens = self._decode(
            variables["decoder"], noise["z"], gumbel=noise["gumbel"], t=self.temperature
        )
        return tokens

    def elbo(self, variables, x, labels, rng):
        rec, kl, *_ = self._terms(variables, x, rng)
        return -(rec + kl)

    def melody_scores(self, variables, x, rng):
        """Per test melody [b]: single-sample ELBO terms (nats) and the step accuracies of
        decoding its posterior mean, teacher-forced and free-running (greedy); the same
        accuracies over the steps where a note starts (token >= 2), and the share of
        no-event steps: most steps of a melody hold a note, so a decoder that never starts one
        scores that share in step accuracy, and only the onset accuracies show melody."""
        x = x.astype(jnp.int32)
        rec, kl, *_ = self._terms(variables, x, rng)
        mu = self.encode(variables, x)
        forced, _ = self._decode(variables["decoder"], mu, x, jnp.zeros(x.shape, bool))
        free = self.decode(variables, mu)
        return {
            "elbo": -(rec + kl),
            "reconstruction_nats": rec,
            "kl_nats": kl,
            "accuracy_teacher_forced": jnp.mean(jnp.argmax(forced, -1) == x, axis=-1),
            "accuracy_sampled": jnp.mean(free == x, axis=-1),
            "onset_accuracy_teacher_forced": _onset_mean(jnp.argmax(forced, -1) == x, x),
            "onset_accuracy_sampled": _onset_mean(free == x, x),
            "no_event_share": jnp.mean(x == tok.NO_EVENT, axis=-1),
        }

    def predictors(self):
        return {
            "sample": self.sample,
            "sample_noise": self.sample_noise,
            "encode": self.encode,
            "decode": self.decode,
            "reconstruct": self.reconstruct,
            "elbo": self.elbo,
            "melody_scores": self.melody_scores,
        }

    # --- training
    def update(self, state, ctx, batch, rng):
        x = batch["tokens"][0].astype(jnp.int32)
        k_shift, k_eps, k_use, k_gumbel = jax.random.split(rng, 4)
        if self.max_transpose:
            shifts = jax.random.randint(
                k_shift, (x.shape[0],), -self.max_transpose, self.max_transpose + 1
            )
            x = transpose(x, shifts)
        p = sampling_probability(state.step, self.schedule, self.sampling_rate)
        use = jax.random.bernoulli(k_use, p, x.shape)
        gumbel = jax.random.gumbel(k_gumbel, (*x.shape, tok.NUM_CLASSES))
        weight = beta(state.step, self.max_beta, self.beta_rate)

        def loss_fn(params):
            variables = {name: {"params": p} for name, p in params.items()}
            rec, kl, logits, mu, sigma = self._terms(variables, x, k_eps, use, gumbel)
            loss = jnp.mean(rec) + weight * jnp.mean(free_bits_cost(kl, self.free_bits))
            metrics = {
                "loss": loss,
                "loss/reconstruction": jnp.mean(rec),
                "kl_nats": jnp.mean(kl),
                "kl_bits": jnp.mean(kl) / math.log(2.0),
                "elbo": -jnp.mean(rec + kl),
                "train_accuracy": jnp.mean(jnp.argmax(logits, -1) == x),
                "sigma": jnp.mean(sigma),
            }
            return loss, metrics

        (_, metrics), grads = base.value_and_grad(loss_fn, has_aux=True)(dict(state.params))
        params, opt_state = dict(state.params), dict(state.opt_state)
        for name in ("encoder", "decoder"):
            params[name], opt_state[name], norms = base.apply_gradients(
                ctx.optimizers[name], params[name], opt_state[name], grads[name], name
            )
            metrics.update(norms)
        metrics.update(beta=weight, sampling_probability=p)
        return state.replace(params=params, opt_state=opt_state), metrics
