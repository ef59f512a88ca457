"""Deterministic autoencoders: plain (dimensionality reduction, compression; Hinton &
Salakhutdinov 2006) and denoising (Vincent et al. 2008): the encoder sees a corrupted image,
the loss compares the decoding with the clean one.

objective.loss: "bce" (pixels as Bernoulli means; the decoder emits logits) or "mse".
objective.noise: "" | "gaussian" (additive, std `noise_std`, clipped to [0, 1]) |
"masking" (each pixel zeroed with probability `mask_prob`).
"""

import math

import jax
import jax.numpy as jnp
import optax

from gendl.config import ConfigError
from gendl.objectives import base


def psnr(mse, peak=1.0):
    """Peak signal-to-noise ratio in dB for images in [0, peak]."""
    return 10.0 * jnp.log10(peak**2 / jnp.maximum(mse, 1e-12))


def corrupt(x, rng, noise, noise_std=0.0, mask_prob=0.0):
    if noise == "gaussian":
        return jnp.clip(x + noise_std * jax.random.normal(rng, x.shape), 0.0, 1.0)
    if noise == "masking":
        return jnp.where(jax.random.bernoulli(rng, mask_prob, x.shape), 0.0, x)
    return x


class Autoencoder(base.EncoderDecoder, base.Objective):
    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        self.net = networks["autoencoder"]
        cfg = config.objective
        self.loss_name = cfg.get("loss", "bce")
        self.noise = cfg.get("noise", "")
        self.noise_std = float(cfg.get("noise_std", 0.0))
        self.mask_prob = float(cfg.get("mask_prob", 0.0))
        self.code_dim = int(config.model.latent_dim)
        if self.loss_name not in ("bce", "mse"):
            raise ConfigError(
                f"config.objective.loss must be 'bce' or 'mse', not {self.loss_name!r}."
            )
        if self.noise not in ("", "gaussian", "masking"):
            raise ConfigError(
                f"config.objective.noise must be '', 'gaussian' or 'masking', not {self.noise!r}."
            )

    def encode(self, params, x, labels=None):
        return self.net.apply(params["autoencoder"], x, method="encode")

    def decode_mean(self, params, code, labels=None):
        return jax.nn.sigmoid(self.net.apply(params["autoencoder"], code, method="decode"))

    def init(self, rng):
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        code = jnp.zeros((1, self.code_dim), jnp.float32)
        return base.init_networks(self.networks, rng, {"autoencoder": (x, code)})

    def sample_noise(self, rng, n):
        # Not a generative model: the "samples" decode random codes, which shows what the code
        # space holds; reconstructions are the autoencoder's real picture.
        return jax.random.normal(rng, (n, self.code_dim))

    def sample(self, params, noise):
        return self.decode_mean(params, noise)

    def loss(self, ae_params, x, rng):
        x_in = corrupt(x, rng, self.noise, self.noise_std, self.mask_prob)
        net = self.net
        logits = net.apply(
            {"params": ae_params},
            net.apply({"params": ae_params}, x_in, method="encode"),
            method="decode",
        )
        flat = lambda a: a.reshape(a.shape[0], -1)
        recon = jax.nn.sigmoid(logits)
        mse = jnp.mean(jnp.sum((flat(recon) - flat(x)) ** 2, -1))
        bce = jnp.mean(jnp.sum(optax.sigmoid_binary_cross_entropy(flat(logits), flat(x)), -1))
        loss = bce if self.loss_name == "bce" else mse
        pixels = math.prod(self.image_shape)
        return loss, {
            "loss/autoencoder": loss,
            "bce": bce,
            "mse_per_pixel": mse / pixels,
            "psnr": psnr(mse / pixels),
        }

    def update(self, state, ctx, batch, rng):
        x = batch["image"][0]
        grads, metrics = base.grad(self.loss, has_aux=True)(state.params["autoencoder"], x, rng)
        p, o, norms = base.apply_gradients(
            ctx.optimizers["autoencoder"],
            state.params["autoencoder"],
            state.opt_state["autoencoder"],
            grads,
            "autoencoder",
        )
        metrics["compression_ratio"] = jnp.float32(math.prod(self.image_shape) / self.code_dim)
        return state.replace(params={"autoencoder": p}, opt_state={"autoencoder": o}), {
            **metrics,
            **norms,
        }
