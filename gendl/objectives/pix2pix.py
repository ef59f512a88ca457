"""Pix2Pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks"): a conditional GAN whose generator G maps an image x of one domain to its
counterpart y of another, trained on pairs (x, y), against a discriminator D that judges
pairs (x, y) as real or (x, G(x)) as fake, patch by patch (models/patchgan.py).

One train step, as in the reference code: y_hat = G(x) once; a D step on
    L_D = 1/2 [BCE(D(x, y_hat), 0) + BCE(D(x, y), 1)]
then a G step, through the updated D, on
    L_G = BCE(D(x, y_hat), 1) + lambda_l1 * |y_hat - y|_1
(BCE averaged over the patch logits, the L1 over pixels, both on the [-1, 1] scale the
networks work in; lambda_l1 = 100, Adam(2e-4, b1 = 0.5) in the config). The G term is the
non-saturating loss, as in the paper. `objective.l1_only` trains G on the L1 term alone and
builds no discriminator (the paper's "L1" ablation, Table 1).

Data: paired image features "a" and "b" (config.data.names), in [0, 1] from the train step,
mapped to [-1, 1] here; `objective.direction` "a2b" (x = a, y = b) or "b2a".

Noise: dropout in the generator's inner decoder levels (the paper gives G no z). It is on in
training and, as in the paper, when translating with a key (`translate(variables, x, rng)`;
without a key the translation is deterministic). Batch norm uses the running averages when
translating (the reference code, at batch size 1, uses the test image's own statistics).
Batch norm statistics live in `state.model_state`; D's are advanced by its own step only.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gendl.config import ConfigError
from gendl.data import pipeline
from gendl.data.errors import DataError
from gendl.models import pix2pix as pix2pix_models
from gendl.objectives import base

DIRECTIONS = {"a2b": ("a", "b"), "b2a": ("b", "a")}
# The fixed key of the sample grid's dropout, so successive grids differ only by training.
_GRID_KEY = 0


def bce_with_logits(logits, label: float):
    """Mean binary cross-entropy of sigmoid(logits) against a constant 0/1 label, written as
    softplus of the logits so that it stays finite for any logit."""
    logits = jnp.asarray(logits, jnp.float32)
    return jnp.mean(jax.nn.softplus(-logits) if label else jax.nn.softplus(logits))


def discriminator_loss(real_logits, fake_logits):
    return 0.5 * (bce_with_logits(fake_logits, 0.0) + bce_with_logits(real_logits, 1.0))


def l1(output, target):
    return jnp.mean(jnp.abs(output - target))


def to_signed(x):
    """[0, 1] -> [-1, 1], the networks' scale."""
    return 2.0 * x - 1.0


def to_unit(x):
    return jnp.clip(0.5 * (x + 1.0), 0.0, 1.0)


class Pix2Pix(base.Objective):
    ema_networks = ("generator",)

    def __init__(self, config, networks, spec):
        cfg = config.objective
        self.direction = cfg.get("direction", "a2b")
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"config.objective.direction={self.direction!r}; use one of "
                f"{', '.join(DIRECTIONS)} (translate feature 'a' to 'b' or 'b' to 'a')."
            )
        self.source, self.target = DIRECTIONS[self.direction]
        self.l1_only = bool(cfg.get("l1_only", False))
        self.lambda_l1 = float(cfg.get("lambda_l1", 100.0))
        # Not Objective.__init__'s spec.image_shape: paired data has no feature "image".
        self.config, self.spec = config, spec
        self.image_shape = pix2pix_models.paired_shape(spec)
        self.networks = {k: v for k, v in networks.items() if k == "generator" or not self.l1_only}
        self.generator = networks["generator"]
        self.discriminator = networks.get("discriminator")

    def init(self, rng):
        kg, kd, kdrop = jax.random.split(rng, 3)
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        out = {
            "generator": dict(self.generator.init({"params": kg, "dropout": kdrop}, x, train=False))
        }
        if not self.l1_only:
            out["discriminator"] = dict(self.discriminator.init(kd, x, x, train=False))
        return out

    # --- translation
    def translate(self, variables, x, rng=None):
        """Images x in [0, 1] [n, H, W, C] of the source domain -> translations in [0, 1].
        With `rng`, the generator's dropout is on (the paper's test-time noise)."""
        rngs = None if rng is None else {"dropout": rng}
        y = self.generator.apply(
            variables["generator"], to_signed(x), train=False, dropout=rng is not None, rngs=rngs
        )
        return to_unit(y)

    def predictors(self):
        return {"translate": self.translate}

    def sample_noise(self, rng, n):
        """The sample grid's fixed inputs: the first n pairs of the test split (the train
        split when the test split is empty), {"source", "target"} in [0, 1]."""
        del rng
        source = test_source(self.config)
        batch = source.read(np.arange(min(n, len(source))), np.random.default_rng(0))
        return {
            "source": np.asarray(batch[self.source], np.float32) / 255.0,
            "target": np.asarray(batch[self.target], np.float32) / 255.0,
        }

    def sample(self, variables, noise):
        """Triptychs input | translation | target, side by side: [n, H, 3 W, C] in [0, 1]."""
        x, y = noise["source"], noise["target"]
        y_hat = self.translate(variables, x, jax.random.key(_GRID_KEY))
        return jnp.concatenate([x, y_hat, y], axis=2)

    # --- training
    def update(self, state, ctx, batch, rng):
        x, y = to_signed(batch[self.source][0]), to_signed(batch[self.target][0])
        params, opt_state = dict(state.params), dict(state.opt_state)
        model_state = dict(state.model_state)

        # G's forward pass once, as in the reference code: its output feeds the D step
        # (without gradients to G) and the G step (with them, through the pullback).
        def forward(p):
            return base.apply_network(
                self.generator, p, model_state["generator"], x, train=True, rng=rng
            )

        y_hat, pullback, model_state["generator"] = jax.vjp(
            forward, params["generator"], has_aux=True
        )
        metrics = {}
        if not self.l1_only:
            d_params, d_opt, d_state, metrics = self._discriminator_step(
                ctx, params, opt_state, model_state, x, y, jax.lax.stop_gradient(y_hat)
            )
            params["discriminator"], opt_state["discriminator"] = d_params, d_opt
            model_state["discriminator"] = d_state

        def g_loss(y_hat):
            reconstruction = l1(y_hat, y)
            loss, m = self.lambda_l1 * reconstruction, {"loss/l1": reconstruction}
            if not self.l1_only:
                # D's statistics are not advanced by G's step (as in gan.py).
                logits, _ = base.apply_network(
                    self.discriminator,
                    params["discriminator"],
                    model_state["discriminator"],
                    x,
                    y_hat,
                    train=True,
                )
                adversarial = bce_with_logits(logits, 1.0)
                loss = loss + adversarial
                m["loss/generator_adversarial"] = adversarial
            return loss, {**m, "loss/generator": loss}

        params["generator"], opt_state["generator"], g_metrics = base.update_through(
            ctx, "generator", g_loss, y_hat, pullback, params, opt_state
        )
        state = state.replace(params=params, opt_state=opt_state, model_state=model_state)
        return state, {**metrics, **g_metrics}

    def _discriminator_step(self, ctx, params, opt_state, model_state, x, y, y_hat):
        return base.discriminator_step(
            ctx,
            functools.partial(base.apply_network, self.discriminator, train=True),
            params["discriminator"],
            opt_state["discriminator"],
            model_state["discriminator"],
            real=(x, y),
            fake=(x, y_hat),
            loss=discriminator_loss,
        )


def test_source(config):
    """The test split of the paired data (read with config.data.test_ops, no random jitter);
    the train split when the test split is empty (a tiny folder)."""
    try:
        return pipeline.build_eval_data(config, "test")
    except DataError as err:
        if "hold no images" not in str(err):
            raise
        return pipeline.build_eval_data(config, "train")
