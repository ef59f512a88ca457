"""CC-GAN (Denton, Gross & Fergus 2016, "Semi-Supervised Learning with Context-Conditional
Generative Adversarial Networks"): semi-supervised classification through in-painting.

Each step cuts one square hole at a random place out of every unlabelled image x (mask m,
1 inside the hole; masks.random_square), the generator G sees the context (1 - m) * x (and,
with config.model.low_res_factor, a low-resolution copy of the whole x), and its output is
used only inside the hole:
    x_I = (1 - m) * x + m * G((1 - m) * x)
The discriminator has two heads on one trunk (models/ccgan.py): D(x) = sigmoid(l(x)), real
versus in-painted, and class logits c(x). Its loss, on an unlabelled batch, the in-painted
batch and a labelled batch (x_L, y):
    L_D = E softplus(-l(x)) + E softplus(l(x_I)) + lambda_c E CE(c(x_L), y)
        = -E log D(x) - E log(1 - D(x_I)) - lambda_c E log p(y | x_L)
(the CC-GAN game with the supervised term added; lambda_c = objective.class_weight). The
generator minimises the non-saturating E softplus(-l(x_I)) = -E log D(x_I); the paper's
generator has no reconstruction loss (unlike the context encoder), and neither has this one.
With objective.full_image_fake (CC-GAN^2, the combined objective: what the paper's summaries
describe as the discriminator also telling real from whole generated images), G's whole
output x_G = G((1 - m) x) is a second kind of fake: L_D gains E softplus(l(x_G)) and G's
loss E softplus(-l(x_G)).

With config.model.k_plus_one (a deviation from the paper's separate heads, borrowed from
Salimans et al. 2016 and objectives/sgan.py), l(x) is no head of its own but logsumexp of the
K class logits: D(x) = Z / (Z + 1), Z = sum_k exp(c_k(x)), i.e. K+1 classes with the fake
class's logit fixed at 0. The losses above are unchanged; what changes is that the
adversarial terms now reach the class logits. With two heads they cannot: the class head is
fitted to the labelled batch alone, and the unlabelled and in-painted images shape it only
through the trunk.

The test classifier is the discriminator's class head with its dropout off and, with
config.ema.decay, its parameters averaged (as the SGAN's). The labelled subset (N / K images
per class, chosen by the seed) and its batches come from config.data.num_labelled, as for
the SGAN; the K-class cross-entropy is objectives/sgan.py's.

Images arrive in [0, 1] and are mapped to [-1, 1]; the hole of the context is 0 there.
Batch-norm statistics of the generator live in state.model_state.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.config import ConfigError
from gendl.data import masks, pipeline
from gendl.models import ccgan as ccgan_models
from gendl.objectives import base, sgan


def to_signed(x):
    """[0, 1] -> [-1, 1], the networks' scale."""
    return 2.0 * x - 1.0


def to_unit(x):
    return jnp.clip(0.5 * (x + 1.0), 0.0, 1.0)


def context(images, mask):
    """What the generator sees: the images with the hole set to 0."""
    return (1.0 - mask) * images


def compose(images, generated, mask):
    """The in-painted image: the original outside the hole, the generator's output inside."""
    return (1.0 - mask) * images + mask * generated


def discriminator_loss(real_logits, fake_logits: list):
    """-E log D(x) - sum over the kinds of fake of E log(1 - D(fake)), D = sigmoid(logit)."""
    loss = jnp.mean(jax.nn.softplus(-real_logits))
    for logits in fake_logits:
        loss = loss + jnp.mean(jax.nn.softplus(logits))
    return loss


def semi_supervised_loss(
    real_logits, fake_logits: list, class_logits, labels, class_weight, adversarial_weight=1.0
):
    """The discriminator's whole loss: the adversarial terms on the unlabelled real and the
    fake batches plus class_weight x the K-class cross-entropy of the labelled batch
    (adversarial_weight 0: the supervised-only baseline). Returns (loss, adversarial,
    supervised)."""
    adversarial = discriminator_loss(real_logits, fake_logits)
    supervised = sgan.supervised_loss(class_logits, labels)
    loss = adversarial_weight * adversarial + class_weight * supervised
    return loss, adversarial, supervised


def generator_loss(fake_logits: list):
    """Non-saturating: -sum over the kinds of fake of E log D(fake)."""
    return sum(jnp.mean(jax.nn.softplus(-logits)) for logits in fake_logits)


def centred_square(shape, size):
    """The mask of a size x size hole in the middle of every image (translate's default)."""
    height, width = shape[1], shape[2]
    top, left = (height - size) // 2, (width - size) // 2
    rows = jnp.arange(height)[None, :, None, None]
    cols = jnp.arange(width)[None, None, :, None]
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return jnp.broadcast_to(inside, (shape[0], height, width, 1)).astype(jnp.float32)


class ContextConditionalGan(base.Objective):
    """Per step: G fills the holes once; one discriminator step (labelled, unlabelled and
    in-painted batches); one generator step through the updated discriminator."""

    # The discriminator is the test classifier: config.ema.decay averages it (as the SGAN's).
    ema_networks = ("discriminator",)

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        if not config.data.get("num_labelled"):
            raise ConfigError(
                "CC-GAN trains its discriminator to classify a few labelled images: set "
                "config.data.num_labelled (e.g. 100, ten per class) on a labelled dataset "
                "such as mnist."
            )
        cfg = config.objective
        height = self.image_shape[0]
        self.hole = int(cfg.get("hole_size", 0)) or height // 2
        masks.random_square(jax.random.key(0), (1, *self.image_shape), self.hole)  # fits?
        self.class_weight = float(cfg.get("class_weight", 1.0))
        # 0: the discriminator learns from the labels alone (the baseline CC-GAN must beat).
        self.adversarial_weight = float(cfg.get("adversarial_weight", 1.0))
        self.full_image_fake = bool(cfg.get("full_image_fake", False))
        self.low_res_factor = int(config.model.get("low_res_factor", 0))
        self.generator = networks["generator"]
        self.discriminator = networks["discriminator"]

    def init(self, rng):
        k_g, k_d = jax.random.split(rng)
        x = jnp.zeros((2, *self.image_shape), jnp.float32)  # two rows: batch norm
        return {
            "generator": dict(self.generator.init(k_g, *self._generator_inputs(x, x), train=False)),
            "discriminator": dict(self.discriminator.init(k_d, x, train=False)),
        }

    def _generator_inputs(self, x, mask):
        low_res = None
        if self.low_res_factor:
            low_res = ccgan_models.low_resolution(x, self.low_res_factor)
        return context(x, mask), low_res

    # --- predict functions (images in [0, 1])
    def classify(self, variables, x):
        """Class logits [n, K] of the discriminator, dropout off (the test classifier)."""
        return self.discriminator.apply(variables["discriminator"], to_signed(x))[1]

    def inpaint(self, variables, x, mask):
        """Images x [n, H, W, C] with the holes of `mask` ([n, H, W, 1], 1 = missing) filled
        by the generator (batch norm on its running averages)."""
        x = to_signed(x)
        generated = self.generator.apply(
            variables["generator"], *self._generator_inputs(x, mask), train=False
        )
        return to_unit(compose(x, generated, mask))

    def translate(self, variables, x, rng=None):
        """`inpaint` with a hole of the trained size in the middle of each image (what
        gendl.translate runs; the generator has no noise, so `rng` is unused)."""
        del rng
        return self.inpaint(variables, x, centred_square(x.shape, self.hole))

    def predictors(self):
        return {"classify": self.classify, "inpaint": self.inpaint, "translate": self.translate}

    def sample_noise(self, rng, n):
        """The sample grid's fixed inputs: the first n test images and random holes."""
        source = pipeline.build_eval_data(self.config, "test")
        batch = source.read(np.arange(min(n, len(source))), np.random.default_rng(0))
        images = np.asarray(batch["image"], np.float32) / 255.0
        return {"image": images, "mask": masks.random_square(rng, images.shape, self.hole)}

    def sample(self, variables, noise):
        """Triptychs context (hole grey) | in-painted | original: [n, H, 3 W, C] in [0, 1]."""
        x, mask = noise["image"], noise["mask"]
        shown = (1.0 - mask) * x + 0.5 * mask
        return jnp.concatenate([shown, self.inpaint(variables, x, mask), x], axis=2)

    # --- training
    def _fakes(self, x, generated, mask):
        fakes = [compose(x, generated, mask)]
        return fakes + [generated] if self.full_image_fake else fakes

    def _discriminate(self, d_params, images, rng):
        return self.discriminator.apply(
            {"params": d_params}, images, train=True, rngs={"dropout": rng}
        )

    def update(self, state, ctx, batch, rng):
        params, opt_state = dict(state.params), dict(state.opt_state)
        model_state = dict(state.model_state)
        x = to_signed(batch["image"][0])
        x_lab, y_lab = to_signed(batch["labelled_image"][0]), batch["labelled_label"][0]
        n, n_lab = x.shape[0], x_lab.shape[0]
        k_mask, k_d, k_g = jax.random.split(rng, 3)
        mask = masks.random_square(k_mask, x.shape, self.hole)
        inputs = self._generator_inputs(x, mask)

        # G's forward pass once: its output feeds the D step (without gradients to G) and,
        # through the pullback, the G step (as in pix2pix.py).
        def forward(p):
            g_state = model_state["generator"]
            return base.apply_network(self.generator, p, g_state, *inputs, train=True)

        generated, pullback, model_state["generator"] = jax.vjp(
            forward, params["generator"], has_aux=True
        )
        fakes = self._fakes(x, jax.lax.stop_gradient(generated), mask)

        def disc_loss(d_params):
            adv, classes = self._discriminate(d_params, jnp.concatenate([x_lab, x, *fakes]), k_d)
            adv_real, adv_fake = adv[n_lab : n_lab + n], adv[n_lab + n :]
            fake_logits = jnp.split(adv_fake, len(fakes))
            loss, adversarial, supervised = semi_supervised_loss(
                adv_real,
                fake_logits,
                classes[:n_lab],
                y_lab,
                self.class_weight,
                self.adversarial_weight,
            )
            return loss, {
                "loss/discriminator": loss,
                "loss/adversarial": adversarial,
                "loss/supervised": supervised,
                "train_error/labelled": jnp.mean(jnp.argmax(classes[:n_lab], -1) != y_lab),
                "d_real": jnp.mean(jax.nn.sigmoid(adv_real)),
                "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits[0])),
            }

        params["discriminator"], opt_state["discriminator"], d_metrics = base.update_network(
            "discriminator", disc_loss, params, opt_state, ctx.optimizers
        )

        def gen_loss(generated):
            fakes = self._fakes(x, generated, mask)
            adv, _ = self._discriminate(params["discriminator"], jnp.concatenate(fakes), k_g)
            loss = generator_loss(jnp.split(adv, len(fakes)))
            # Watched, not trained: how far the fill is from the truth inside the hole.
            hole_mse = jnp.sum(mask * (generated - x) ** 2) / jnp.maximum(jnp.sum(mask), 1.0)
            return loss, {"loss/generator": loss, "hole_mse": hole_mse}

        params["generator"], opt_state["generator"], g_metrics = base.update_through(
            ctx, "generator", gen_loss, generated, pullback, params, opt_state
        )
        state = state.replace(params=params, opt_state=opt_state, model_state=model_state)
        return state, {**d_metrics, **g_metrics}
