"""Pictures of a generator (predict functions `sample`, `sample_noise` and `latents`, e.g. the
GAN family):
a fixed-noise sample grid (one row per class for conditional models) and latent
interpolation strips (spherical, between two noise vectors per row; conditional models keep
one class per row)."""

import jax
import numpy as np

from gendl.evaluation import predict as predict_lib
from gendl.monitoring import figures
from gendl.monitoring import images as images_lib
from gendl.parallel import mesh as mesh_lib


class GeneratorPictures:
    NEEDS = ("sample", "sample_noise", "latents")

    def __init__(self, exp, cfg):
        sample, self.sample_noise, self.latents = predict_lib.of(exp).require(
            "generator_pictures evaluator", *self.NEEDS
        )
        self.sample = jax.jit(sample, out_shardings=mesh_lib.replicated(exp.mesh))
        self.num_samples = int(cfg.get("num_samples", 100))
        self.rows = int(cfg.get("interpolation_rows", 8))
        self.steps = int(cfg.get("interpolation_steps", 10))
        self.seed = int(cfg.get("seed", 0))

    def run(self, variables):
        key = jax.random.key(self.seed)
        noise = self.sample_noise(key, self.num_samples)
        samples = np.asarray(jax.device_get(self.sample(variables, noise)))
        out = {"samples": images_lib.make_grid(samples)}

        z, labels = self.latents(jax.random.fold_in(key, 1), 2 * self.rows)
        path = figures.slerp(z[: self.rows], z[self.rows :], self.steps)  # [steps, rows, d]
        path = path.swapaxes(0, 1).reshape(self.rows * self.steps, -1)
        if labels is not None:  # the class of each row's left end, held along the row
            path = {"z": path, "label": labels[: self.rows].repeat(self.steps)}
        strip = np.asarray(jax.device_get(self.sample(variables, path)))
        out["interpolations"] = figures.interpolation_strip(
            strip.reshape(self.rows, self.steps, *strip.shape[1:])
        )
        return {}, out
