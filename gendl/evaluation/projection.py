"""Projecting an image into a style-based generator's latent space (StyleGAN2, Karras et al.
2020, section 5 and appendix D; the algorithm of stylegan2-ada's projector): the library side
of `python -m gendl.project`.

Optimised: one w (`space="w"`, the paper's choice: every layer takes it) or one w per layer
(`space="w+"`: reconstructs more, but leaves the generator's distribution more easily), from
the generator's tracked mean w, together with the per-layer noise maps (initialised to the
maps sampling uses). Per step, at t = step / steps:
  - the w's get Gaussian noise of std 0.05 * sigma_w * max(0, 1 - t / 0.75)^2 (sigma_w: the
    root of the total variance of w, from `w_samples` mapped latents), exploring early and
    settling late;
  - Adam (0.9, 0.999) at learning rate 0.1 * ramp, the ramp a cosine ramp-down over the last
    quarter and a linear ramp-up over the first 5%;
  - loss = distance(G(w), target) + 1e5 * noise regulariser, where the regulariser is the
    squared autocorrelation of every noise map at a shift of one pixel in x and in y, at its
    size and at every 2x average-pooled size down to 8x8 (so the noise cannot carry the
    image); after each step every noise map is renormalised to mean 0 and std 1.
Distance: LPIPS (VGG16 features, learned weights) is what stylegan2 uses; gendl has no LPIPS
weights, so the distance is taken in the penultimate features f of a gendl classifier of the
domain (the MNIST / Fashion-MNIST classifiers, the emoji style classifier; built on first
need like the sample-quality metrics' extractor), each unit-normalised as LPIPS normalises its
features: ||f(x)/|f(x)| - f(t)/|f(t)| ||^2, plus `pixel_weight` (1.0) times the mean squared
pixel difference (in [0, 1] units), which anchors colour and position the classifier ignores.
With `features="none"` the distance is the pixel term alone.
"""

import dataclasses
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gendl.config import ConfigError
from gendl.data.errors import DataError
from gendl.evaluation import classifier_config, extractors, file_translation, predict, runs
from gendl.evaluation import prerequisites as prerequisites_lib
from gendl.monitoring import images as images_lib

SPACES = ("w", "w+")
NEEDS = ("latents", "map_latents", "mean_w", "synthesize", "noise_maps")


@dataclasses.dataclass(frozen=True)
class Settings:
    steps: int = 1000
    space: str = "w"
    initial_lr: float = 0.1
    lr_rampdown: float = 0.25
    lr_rampup: float = 0.05
    initial_noise_factor: float = 0.05
    noise_ramp: float = 0.75
    noise_weight: float = 1e5
    pixel_weight: float = 1.0
    w_samples: int = 10_000
    snapshots: int = 8  # progress images, evenly over the steps
    seed: int = 0


def learning_rate(t, s: Settings):
    """The ramp of the learning rate at t = step / steps."""
    ramp = jnp.minimum(1.0, (1.0 - t) / s.lr_rampdown)
    ramp = 0.5 - 0.5 * jnp.cos(ramp * math.pi)
    return s.initial_lr * ramp * jnp.minimum(1.0, t / s.lr_rampup)


def noise_regulariser(noises):
    """Sum over maps and pooled sizes (down to 8x8) of the squared mean products of each map
    with itself shifted by one pixel in x and in y (rolled: the official wrap-around)."""
    total = 0.0
    for v in noises:
        v = v[0, ..., 0]
        while True:
            total += jnp.mean(v * jnp.roll(v, 1, axis=1)) ** 2
            total += jnp.mean(v * jnp.roll(v, 1, axis=0)) ** 2
            if v.shape[0] <= 8:
                break
            h = v.shape[0] // 2
            v = v.reshape(h, 2, h, 2).mean(axis=(1, 3))
    return total


def _normalised(noises):
    return tuple((v - jnp.mean(v)) / jnp.std(v) for v in noises)


def feature_distance(extractor):
    """distance(x, target) on [1, H, W, C] images in [0, 1] (see the module docstring);
    None (pixels only) without an extractor."""
    if extractor is None:
        return None

    def unit(x):
        f, _ = extractor.apply(x)
        return f / (jnp.linalg.norm(f, axis=-1, keepdims=True) + 1e-8)

    return lambda x, target_features: jnp.sum(jnp.square(unit(x) - target_features)), unit


def feature_extractor(config, features: str, classifier_workdir: str = ""):
    """The classifier extractor used for the distance: `features` names a gendl classifier's
    dataset ("auto": the run's dataset when gendl has a classifier for it; "none": pixels
    only). Builds a missing classifier once, as the sample-quality metrics do."""
    if features == "auto":
        features = config.data.name if config.data.name in classifier_config.VARIANTS else "none"
    if features == "none":
        return None
    from gendl.training import loop  # the trainer, to build a missing classifier

    cfg = {"classifier_workdir": classifier_workdir}
    data = config.data
    need = extractors.prerequisites_of("classifier", features, cfg, data.manual_dir, data.data_dir)
    for n in need:
        prerequisites_lib.ensure(n, loop.train)
    return extractors.build("classifier", features, cfg)


class Projector:
    """Compiled once per run: `project(target [H, W, C] in [0, 1])`."""

    def __init__(self, run, extractor, settings: Settings):
        s = settings
        if s.space not in SPACES:
            raise ConfigError(f"--space={s.space!r}; use one of {', '.join(SPACES)}.")
        if s.steps < 1:
            raise ConfigError(f"--steps={s.steps}: the projector needs at least one step.")
        functions = predict.of(run.exp)
        latents, map_latents, mean_w, synthesize, noise_maps = functions.require(
            "gendl.project command (a style-based generator: StyleGAN2)", *NEEDS
        )
        self.settings, self.variables = s, run.state.variables()
        self.image_shape = tuple(run.exp.objective.image_shape)
        if extractor is not None and tuple(extractor.image_shape) != self.image_shape:
            raise ConfigError(
                f"The feature classifier takes images of shape {extractor.image_shape}, but the "
                f"generator makes {self.image_shape}: pass --features=<a classifier of this "
                "domain> (mnist, fashion_mnist, emoji_style) or --features=none."
            )
        self.num_ws = int(run.exp.objective.num_ws)
        z, labels = latents(jax.random.key(s.seed), s.w_samples)
        w = np.asarray(jax.jit(map_latents)(self.variables, z, labels), np.float64)
        self.w_avg = jnp.asarray(mean_w(self.variables))
        self.w_std = float(np.sqrt(np.sum((w - np.asarray(self.w_avg)) ** 2) / len(w)))
        self.noise_maps = noise_maps(self.variables)
        distance = feature_distance(extractor)
        self.unit = None if distance is None else jax.jit(distance[1])

        ws_of = self.ws_of

        def losses(params, target, target_features, w_noise):
            ws = ws_of(params["w"] + w_noise)
            x = synthesize(self.variables, ws, params["noise"])
            pixel = jnp.mean(jnp.square(x - target))
            dist = s.pixel_weight * pixel
            if distance is not None:
                dist = dist + distance[0](x, target_features)
            reg = noise_regulariser(params["noise"])
            return dist + s.noise_weight * reg, (dist, pixel)

        adam = optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)

        def step(params, opt_state, i, target, target_features, key):
            t = i / s.steps
            scale = (
                self.w_std * s.initial_noise_factor * jnp.maximum(0.0, 1.0 - t / s.noise_ramp) ** 2
            )
            w_noise = jax.random.normal(key, params["w"].shape) * scale
            grads, (dist, pixel) = jax.grad(losses, has_aux=True)(
                params, target, target_features, w_noise
            )
            updates, opt_state = adam.update(grads, opt_state, params)
            lr = learning_rate(t, s)
            params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
            params = {"w": params["w"], "noise": _normalised(params["noise"])}
            return params, opt_state, dist, pixel

        self._step = jax.jit(step)
        self._image = jax.jit(
            lambda params: synthesize(self.variables, ws_of(params["w"]), params["noise"])
        )
        self._loss = jax.jit(
            lambda params, target, tf: losses(params, target, tf, jnp.zeros_like(params["w"]))[1]
        )
        self._adam = adam

    def ws_of(self, w_opt):
        """ws [1, num_ws, w_dim] of the optimised w (one for every layer) or w+ (per layer)."""
        if self.settings.space == "w+":
            return w_opt
        return jnp.broadcast_to(w_opt, (1, self.num_ws, w_opt.shape[-1]))

    def initial(self):
        shape = (
            (1, self.num_ws, self.w_avg.shape[-1])
            if self.settings.space == "w+"
            else (1, self.w_avg.shape[-1])
        )
        return {"w": jnp.broadcast_to(self.w_avg, shape), "noise": tuple(self.noise_maps)}

    def project(self, target):
        """dict: ws [num_ws, w_dim], noise maps, image [H, W, C], the distance and the pixel
        MSE at the mean w and at the end (no w noise), per-step distances, progress images
        [k, H, W, C], seconds."""
        s = self.settings
        target = jnp.asarray(target, jnp.float32)[None]
        target_features = None if self.unit is None else self.unit(target)
        params = self.initial()
        opt_state = self._adam.init(params)
        start_dist, start_pixel = self._loss(params, target, target_features)
        marks = set(np.linspace(0, s.steps, s.snapshots + 1).astype(int)[1:].tolist())
        progress = [np.asarray(self._image(params))[0]]
        history = []
        key = jax.random.key(s.seed + 1)
        started = time.perf_counter()
        for i in range(s.steps):
            params, opt_state, dist, _ = self._step(
                params, opt_state, i, target, target_features, jax.random.fold_in(key, i)
            )
            history.append(float(dist))
            if i + 1 in marks:
                progress.append(np.asarray(self._image(params))[0])
        seconds = time.perf_counter() - started
        end_dist, end_pixel = self._loss(params, target, target_features)
        return {
            "ws": np.asarray(self.ws_of(params["w"]))[0],
            "noise": [np.asarray(v) for v in params["noise"]],
            "image": progress[-1],
            "start_distance": float(start_dist),
            "distance": float(end_dist),
            "start_pixel_mse": float(start_pixel),
            "pixel_mse": float(end_pixel),
            "history": np.asarray(history),
            "progress": np.stack(progress),
            "seconds": seconds,
        }


def project_file(workdir, image, out, settings=Settings(), features="auto", classifier_workdir=""):
    """Projects the image file `image` with the run in `workdir`; writes target.png (the image
    as the generator's size and mode), projection.png, projected_ws.npy (ws [num_ws, w_dim]:
    `synthesize`'s input), projected_noise.npz and progress.png (target, then the projection
    at the start and at `snapshots` points) into `out`. Returns `Projector.project`'s dict."""
    run = runs.load_run(workdir)
    functions = predict.of(run.exp)
    if any(name not in functions for name in NEEDS):
        raise ConfigError(
            f"--workdir={workdir} holds a {functions.objective!r} run; gendl.project finds a "
            "latent through a style-based generator's mapping and synthesis networks (its "
            f"predict functions {', '.join(NEEDS)}), which only StyleGAN2 runs "
            "(configs/stylegan2.py) have. Pass the workdir of a StyleGAN2 run."
        )
    if not os.path.isfile(image):
        raise DataError(f"--image={image} is not a file. Pass the image file to project.")
    # Decoded before anything else is built or written: a non-image stops here.
    target = file_translation.load_images([image], run.exp.objective.image_shape)[0]
    extractor = feature_extractor(run.config, features, classifier_workdir)
    result = Projector(run, extractor, settings).project(target.astype(np.float32) / 255.0)
    os.makedirs(out, exist_ok=True)
    images_lib.write_png(os.path.join(out, "target.png"), target)
    images_lib.write_png(os.path.join(out, "projection.png"), images_lib.to_uint8(result["image"]))
    np.save(os.path.join(out, "projected_ws.npy"), result["ws"])
    np.savez(os.path.join(out, "projected_noise.npz"), *result["noise"])
    strip = np.concatenate([target[None].astype(np.float32) / 255.0, result["progress"]])
    images_lib.write_png(
        os.path.join(out, "progress.png"), images_lib.make_grid(strip, ncol=len(strip))
    )
    return result
