"""Pictures of a generator (any objective with `sample` and `latents`, e.g. the GAN family):
a fixed-noise sample grid (one row per class for conditional models) and latent
interpolation strips (spherical, between two noise vectors per row; conditional models keep
one class per row)."""

import jax
import numpy as np

from gendl.monitoring import figures
from gendl.monitoring import images as images_lib


class GeneratorPictures:
    def __init__(self, exp, cfg):
        self.exp = exp
        self.num_samples = int(cfg.get("num_samples", 100))
        self.rows = int(cfg.get("interpolation_rows", 8))
        self.steps = int(cfg.get("interpolation_steps", 10))
        self.seed = int(cfg.get("seed", 0))

    def run(self, variables):
        obj, key = self.exp.objective, jax.random.key(self.seed)
        noise = obj.sample_noise(key, self.num_samples)
        samples = np.asarray(jax.device_get(self.exp.sample(variables, noise)))
        out = {"samples": images_lib.make_grid(samples)}

        z, labels = obj.latents(jax.random.fold_in(key, 1), 2 * self.rows)
        path = figures.slerp(z[: self.rows], z[self.rows :], self.steps)  # [steps, rows, d]
        path = path.swapaxes(0, 1).reshape(self.rows * self.steps, -1)
        if labels is not None:  # the class of each row's left end, held along the row
            path = {"z": path, "label": labels[: self.rows].repeat(self.steps)}
        strip = np.asarray(jax.device_get(self.exp.sample(variables, path)))
        out["interpolations"] = figures.interpolation_strip(
            strip.reshape(self.rows, self.steps, *strip.shape[1:])
        )
        return {}, out
