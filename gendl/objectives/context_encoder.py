"""The context encoder (Pathak et al. 2016, "Context Encoders: Feature Learning by
Inpainting"): a generator G paints an image x whose hole M (1 = missing; gendl.data.masks)
is filled with a constant, from the context around it; a discriminator D tells real images
from completed ones, x_c = M * G(x') + (1 - M) * x with x' = (1 - M) * x + fill * M.

Losses (paper eq. 1-3, on the [-1, 1] scale the networks work in):
    L_rec = sum(W * (G(x') - x)^2) / (C * #{W > 0})
the mean squared error over the predicted region, where W is 1 in the hole and
`overlap_weight` (10) on a band of `overlap` pixels of context around it: the authors' code
(train.lua, overlapPred = 4 of 128 px, overlapL2Weight = 10) has the network also repaint a
thin border of context, weighted 10x, so the fill meets its surroundings seamlessly;
overlap 0 is the paper's plain masked L2.
    L_G = lambda_rec * L_rec + lambda_adv * BCE(D(x_c), 1)       (0.999 and 0.001)
    L_D = BCE(D(x), 1) + BCE(D(x_c), 0)
one D step then one G step per train step, as the authors' code (its D sees the central
patch; here D sees the completed image, so random masks work the same way). The config gives
G ten times D's learning rate, as that code does whenever 0 < lambda_rec < 1.
`objective.l2_only` trains G on L_rec alone and builds no D (the paper's L2 baseline).

A fresh mask per step from the step's key (`objective.mask`, a gendl.data.masks rule).
Predict functions: `inpaint(variables, x, mask)` completes images x in [0, 1] with a given
mask; `translate(variables, x, rng=None)` with the config's mask rule (drawn from rng, or
a fixed key), which `gendl.translate` and the evaluators use; `mask(rng, shape)` the rule.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gendl.data import masks as masks_lib
from gendl.objectives import base, gan_losses
from gendl.objectives.pix2pix import test_source, to_signed, to_unit

_GRID_KEY = 0  # the sample grid's masks: the same holes at every grid


def prediction_weights(mask, overlap: int = 0, overlap_weight: float = 10.0):
    """W of L_rec: 1 in the hole, overlap_weight on the `overlap`-pixel band around it, else 0."""
    band = masks_lib.dilate(mask, overlap) - mask
    return mask + overlap_weight * band


def reconstruction_loss(output, target, mask, overlap: int = 0, overlap_weight: float = 10.0):
    """L_rec: the weighted squared error over the predicted region (hole + band), averaged
    over that region's pixels and channels; 0 when the mask is empty."""
    weights = prediction_weights(mask, overlap, overlap_weight)
    region = jnp.sum((weights > 0).astype(jnp.float32)) * output.shape[-1]
    return jnp.sum(weights * (output - target) ** 2) / jnp.maximum(region, 1.0)


def masked_input(x, mask, fill: float = 0.0):
    """What G sees: the context, the hole set to `fill`."""
    return x * (1.0 - mask) + fill * mask


def complete(painted, x, mask):
    """The context of x with G's painting in the hole."""
    return painted * mask + x * (1.0 - mask)


class ContextEncoder(base.Objective):
    ema_networks = ("generator",)

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        cfg = config.objective
        self.mask_spec = str(cfg.get("mask", "centre"))
        self.mask_rule = masks_lib.get(self.mask_spec)
        self.l2_only = bool(cfg.get("l2_only", False))
        self.lambda_rec = float(cfg.get("lambda_rec", 0.999))
        self.lambda_adv = float(cfg.get("lambda_adv", 0.001))
        self.overlap = int(cfg.get("overlap", 0))
        self.overlap_weight = float(cfg.get("overlap_weight", 10.0))
        self.fill = float(cfg.get("fill", 0.0))
        self.networks = {k: v for k, v in networks.items() if k == "generator" or not self.l2_only}
        self.generator = networks["generator"]
        self.discriminator = networks.get("discriminator")

    def init(self, rng):
        kg, kd = jax.random.split(rng)
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        out = {"generator": dict(self.generator.init(kg, x, train=False))}
        if not self.l2_only:
            out["discriminator"] = dict(self.discriminator.init(kd, x, train=False))
        return out

    # --- prediction
    def mask(self, rng, shape):
        return self.mask_rule(rng, shape)

    def inpaint(self, variables, x, mask):
        """Images x in [0, 1] [n, H, W, C], mask [n, H, W, 1] (1 = missing) -> completed."""
        xs = to_signed(x)
        painted = self.generator.apply(
            variables["generator"], masked_input(xs, mask, self.fill), train=False
        )
        return complete(to_unit(painted), x, mask)

    def translate(self, variables, x, rng=None):
        """x in [0, 1] completed after cutting the config's hole (from rng, or a fixed key)."""
        rng = jax.random.key(_GRID_KEY) if rng is None else rng
        return self.inpaint(variables, x, self.mask(rng, x.shape))

    def predictors(self):
        return {"inpaint": self.inpaint, "translate": self.translate, "mask": self.mask}

    def sample_noise(self, rng, n):
        """The sample grid's fixed inputs: the first n test images (train images when the
        test split is empty) and their masks."""
        del rng
        source = test_source(self.config)
        batch = source.read(np.arange(min(n, len(source))), np.random.default_rng(0))
        x = np.asarray(batch["image"], np.float32) / 255.0
        return {"image": x, "mask": np.asarray(self.mask(jax.random.key(_GRID_KEY), x.shape))}

    def sample(self, variables, noise):
        """masked | completed | target, side by side: [n, H, 3 W, C] in [0, 1]."""
        x, mask = noise["image"], noise["mask"]
        shown = masked_input(x, mask, 0.5 * (self.fill + 1.0))
        return jnp.concatenate([shown, self.inpaint(variables, x, mask), x], axis=2)

    # --- training
    def update(self, state, ctx, batch, rng):
        x = to_signed(batch["image"][0])
        mask = self.mask(rng, x.shape)
        params, opt_state = dict(state.params), dict(state.opt_state)
        model_state = dict(state.model_state)

        def forward(p):
            return base.apply_network(
                self.generator,
                p,
                model_state["generator"],
                masked_input(x, mask, self.fill),
                train=True,
            )

        painted, pullback, model_state["generator"] = jax.vjp(
            forward, params["generator"], has_aux=True
        )
        metrics = {}
        if not self.l2_only:
            fake = jax.lax.stop_gradient(complete(painted, x, mask))
            d_params, d_opt, model_state["discriminator"], metrics = self._discriminator_step(
                ctx, params["discriminator"], opt_state["discriminator"], model_state, x, fake
            )
            params["discriminator"], opt_state["discriminator"] = d_params, d_opt

        def g_loss(painted):
            rec = reconstruction_loss(painted, x, mask, self.overlap, self.overlap_weight)
            m = {"loss/reconstruction": rec}
            if self.l2_only:
                return rec, {**m, "loss/generator": rec}
            logits, _ = base.apply_network(
                self.discriminator,
                params["discriminator"],
                model_state["discriminator"],
                complete(painted, x, mask),
                train=True,
            )
            adversarial = gan_losses.generator_loss("non_saturating", logits)
            loss = self.lambda_rec * rec + self.lambda_adv * adversarial
            return loss, {**m, "loss/generator_adversarial": adversarial, "loss/generator": loss}

        params["generator"], opt_state["generator"], g_metrics = base.update_through(
            ctx, "generator", g_loss, painted, pullback, params, opt_state
        )
        state = state.replace(params=params, opt_state=opt_state, model_state=model_state)
        return state, {**metrics, **g_metrics}

    def _discriminator_step(self, ctx, d_params, d_opt, model_state, real, fake):
        return base.discriminator_step(
            ctx,
            functools.partial(base.apply_network, self.discriminator, train=True),
            d_params,
            d_opt,
            model_state["discriminator"],
            real=(real,),
            fake=(fake,),
            loss=functools.partial(gan_losses.discriminator_loss, "non_saturating"),
        )
