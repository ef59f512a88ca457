"""Super-resolution (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using
a Generative Adversarial Network"): SRResNet trained with the pixel MSE, and SRGAN trained
with a perceptual loss, one objective.

The low-resolution input is derived on the device from each high-resolution training image
(gendl.data.resolution.downscale: bicubic with antialiasing, x `model.scale`, 8-bit), so any
image data set (MNIST, the emoji, a folder of photos with random crops) trains it. As in the
paper, the input is in [0, 1] and the target and output on the [-1, 1] scale.

  SRResNet (objective.adversarial_weight = 0, content "mse"): the generator alone, on
      l_MSE = mean over pixels of (G(x_LR) - y)^2.
  SRGAN (adversarial_weight 1e-3, content a frozen feature network's spec, see
      gendl/objectives/feature_networks.py): a discriminator step on
          L_D = BCE(D(y), 1) + BCE(D(G(x_LR)), 0)
      then a generator step, through the updated D, on the perceptual loss
          l = content_weight * mean (phi(G(x_LR)) - phi(y))^2 + pixel_weight * l_MSE
              + adversarial_weight * BCE(D(G(x_LR)), 1)
      (the -log D(G(x)) form of eq. 6; phi the feature network on images in [0, 1];
      pixel_weight 0 is the paper's SRGAN-VGG54, content "mse" its SRGAN-MSE). The paper
      starts SRGAN from a trained SRResNet: `config.init_from=<the SRResNet run>`, or one run
      with `objective.pretrain_steps` > 0 whose first steps (phase "pretrain") train the
      generator on l_MSE alone before the adversarial phase.

The feature network's parameters are `Objective.frozen_networks`: loaded once by the trainer,
passed to each step, never trained or checkpointed. Batch norm statistics live in
`state.model_state`; D's are advanced by its own step only.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gendl.data import resolution
from gendl.objectives import base, feature_networks
from gendl.objectives.pix2pix import bce_with_logits, discriminator_loss, test_source


def to_signed(x):
    return 2.0 * x - 1.0


def to_unit(y):
    """The [-1, 1] scale back to [0, 1], unclipped (losses need the gradient at the edges)."""
    return 0.5 * (y + 1.0)


def mse(output, target):
    return jnp.mean((jnp.asarray(output, jnp.float32) - target) ** 2)


class SuperResolution(base.Objective):
    ema_networks = ("generator",)
    # gendl.translate runs the generator on each input at its own size (it is convolutional).
    fully_convolutional = True

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        cfg = config.objective
        self.scale = int(config.model.get("scale", 4))
        height, width, channels = self.image_shape
        resolution.check_scale(self.scale, height, width)
        self.input_shape = (height // self.scale, width // self.scale, channels)
        self.adversarial_weight = float(cfg.get("adversarial_weight", 0.0))
        self.content_weight = float(cfg.get("content_weight", 1.0))
        self.pixel_weight = float(cfg.get("pixel_weight", 0.0))
        self.pretrain_steps = int(cfg.get("pretrain_steps", 0))
        content = str(cfg.get("content", "mse"))
        self.feature_network = None
        if content != "mse":
            self.feature_network = feature_networks.get(
                content,
                self.image_shape,
                config.data.get("manual_dir", ""),
                {"data_dir": config.data.get("data_dir", ""), **cfg.get("feature_network", {})},
            )
        self.adversarial = self.adversarial_weight > 0
        keep = ("generator", "discriminator") if self.adversarial else ("generator",)
        self.networks = {k: v for k, v in networks.items() if k in keep}
        self.generator = networks["generator"]
        self.discriminator = networks["discriminator"]

    def init(self, rng):
        kg, kd = jax.random.split(rng)
        out = {
            "generator": dict(
                self.generator.init(kg, jnp.zeros((1, *self.input_shape)), train=False)
            )
        }
        if self.adversarial:
            x = jnp.zeros((1, *self.image_shape))
            out["discriminator"] = dict(self.discriminator.init(kd, x, train=False))
        return out

    def frozen_networks(self):
        if self.feature_network is None:
            return {}
        return {"features": self.feature_network.load}

    def phases(self):
        if self.adversarial and self.pretrain_steps > 0:
            return ("pretrain", "adversarial")
        return ("train",)

    def phase(self, step):
        if len(self.phases()) == 1:
            return "train"
        return "pretrain" if step < self.pretrain_steps else "adversarial"

    # --- prediction
    def translate(self, variables, x, rng=None):
        """Low-resolution images in [0, 1] [n, h, w, C] -> [n, h*scale, w*scale, C] in [0, 1]."""
        del rng  # deterministic
        y = self.generator.apply(variables["generator"], jnp.asarray(x, jnp.float32), train=False)
        return jnp.clip(to_unit(y), 0.0, 1.0)

    def predictors(self):
        return {"translate": self.translate}

    def sample_noise(self, rng, n):
        """The sample grid's fixed targets: the first n high-resolution test images."""
        del rng
        source = test_source(self.config)
        batch = source.read(np.arange(min(n, len(source))), np.random.default_rng(0))
        return {"target": np.asarray(batch["image"], np.float32) / 255.0}

    def sample(self, variables, noise):
        """Rows of low-res input (pixels repeated) | bicubic | model | target: [n, H, 4W, C]."""
        y = noise["target"]
        x = resolution.downscale(y, self.scale)
        parts = (resolution.nearest(x, self.scale), resolution.upscale(x, self.scale))
        return jnp.concatenate([*parts, self.translate(variables, x), y], axis=2)

    # --- training
    def update(self, state, ctx, batch, rng):
        del rng  # no noise: the input is a deterministic function of the target
        target = batch["image"][0]
        x, y = resolution.downscale(target, self.scale), to_signed(target)
        params, opt_state = dict(state.params), dict(state.opt_state)
        model_state = dict(state.model_state)
        adversarial = self.adversarial and ctx.phase != "pretrain"

        # G's forward pass once: its output feeds the D step (without gradients to G) and the
        # G step (with them, through the pullback), as in objectives/pix2pix.py.
        def forward(p):
            return base.apply_network(self.generator, p, model_state["generator"], x, train=True)

        y_hat, pullback, model_state["generator"] = jax.vjp(
            forward, params["generator"], has_aux=True
        )
        metrics = {}
        if adversarial:
            d_params, d_opt, d_state, metrics = self._discriminator_step(
                ctx, params, opt_state, model_state, y, jax.lax.stop_gradient(y_hat)
            )
            params["discriminator"], opt_state["discriminator"] = d_params, d_opt
            model_state["discriminator"] = d_state

        def g_loss(y_hat):
            pixel = mse(y_hat, y)
            m = {"loss/mse": pixel}
            if self.feature_network is None or ctx.phase == "pretrain":
                loss = pixel
            else:
                phi = self.feature_network.features
                real = jax.lax.stop_gradient(phi(ctx.frozen["features"], target))
                content = mse(phi(ctx.frozen["features"], to_unit(y_hat)), real)
                loss = self.content_weight * content + self.pixel_weight * pixel
                m["loss/content"] = content
            if adversarial:
                logits, _ = base.apply_network(
                    self.discriminator,
                    params["discriminator"],
                    model_state["discriminator"],
                    y_hat,
                    train=True,
                )
                fooling = bce_with_logits(logits, 1.0)
                loss = loss + self.adversarial_weight * fooling
                m["loss/generator_adversarial"] = fooling
            return loss, {**m, "loss/generator": loss}

        params["generator"], opt_state["generator"], g_metrics = base.update_through(
            ctx, "generator", g_loss, y_hat, pullback, params, opt_state
        )
        psnr = 10.0 * jnp.log10(
            1.0 / jnp.maximum(mse(jnp.clip(to_unit(y_hat), 0, 1), target), 1e-12)
        )
        state = state.replace(params=params, opt_state=opt_state, model_state=model_state)
        return state, {**metrics, **g_metrics, "train_psnr": psnr}

    def _discriminator_step(self, ctx, params, opt_state, model_state, y, y_hat):
        return base.discriminator_step(
            ctx,
            functools.partial(base.apply_network, self.discriminator, train=True),
            params["discriminator"],
            opt_state["discriminator"],
            model_state["discriminator"],
            real=(y,),
            fake=(y_hat,),
            loss=lambda real, fake: 2.0 * discriminator_loss(real, fake),
        )
