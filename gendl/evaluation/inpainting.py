"""Inpainting quality on the test split (predict functions `inpaint` and `mask`): the model's
completions and the fill baselines' (gendl.evaluation.fills) on the same holes.

Inside the hole only, on pixels in [0, 1], per image then averaged over images:
  l1    mean |completed - target| over the hole's pixels and channels;
  l2    mean (completed - target)^2 over the same;
  psnr  10 log10(1 / l2) in dB.
Names: `hole_<metric>` for the model, `<baseline>/hole_<metric>` for mean_fill and
diffusion_fill. The holes come from the run's mask rule (config.objective.mask) with a fixed
key per batch (`seed`), so every model and baseline, and every evaluation of a run, is scored
on the same holes.

FID and KID (gendl.evaluation.sample_quality) of the completed images (whole images, context
included) against the real test images, in the penultimate features of a classifier gendl
trains itself on the same data (`feature_classifier`: "emoji_style" for the emoji, "mnist",
"fashion_mnist"; built on first need in $GENDL_CACHE_DIR/classifier/<name>; "" = off, as in
the smoke runs): `fid/<name>`, `kid/<name>` for the model and each baseline.

Pictures: `inpaintings`, rows of masked | completed | target for the first `num_pictures`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.data import pipeline
from gendl.evaluation import extractors, fills, sample_quality
from gendl.evaluation import predict as predict_lib
from gendl.monitoring import images as images_lib


def hole_scores(output, target, mask) -> dict:
    """{"l1", "l2", "psnr"}: [n] each, over the hole of each image (images in [0, 1])."""
    count = jnp.maximum(jnp.sum(mask, axis=(1, 2, 3)) * output.shape[-1], 1.0)
    diff = (output - target) * mask
    l2 = jnp.sum(diff**2, axis=(1, 2, 3)) / count
    return {
        "l1": jnp.sum(jnp.abs(diff), axis=(1, 2, 3)) / count,
        "l2": l2,
        "psnr": 10.0 * jnp.log10(1.0 / jnp.maximum(l2, 1e-12)),
    }


class Inpainting:
    """config.evals.<name>: type "inpainting", num_examples (default all of the test split),
    batch_size (64), num_pictures (16), seed (the holes' key), feature_classifier ("" = no
    FID/KID), classifier_workdir, kid_subsets (100), kid_subset_size (1000)."""

    NEEDS = ("inpaint", "mask")

    @staticmethod
    def prerequisites(exp, cfg):
        name = cfg.get("feature_classifier", "")
        if not name:
            return []
        data = exp.config.data
        return extractors.prerequisites_of("classifier", name, cfg, data.manual_dir, data.data_dir)

    def __init__(self, exp, cfg):
        inpaint, mask = predict_lib.of(exp).require("inpainting evaluator", *self.NEEDS)
        self.data = pipeline.build_eval_data(exp.config, "test")
        self.num_examples = min(int(cfg.get("num_examples", len(self.data))), len(self.data))
        self.batch_size = int(cfg.get("batch_size", 64))
        self.num_pictures = int(cfg.get("num_pictures", 16))
        self.seed = int(cfg.get("seed", 0))
        self.cfg = cfg

        def complete(variables, x, rng):
            m = mask(rng, x.shape)
            out = {"": inpaint(variables, x, m)}
            out.update({f"{k}/": fill(x, m) for k, fill in fills.BASELINES.items()})
            return m, out, {k: hole_scores(v, x, m) for k, v in out.items()}

        self._fn = jax.jit(complete)
        self.classifier = cfg.get("feature_classifier", "")
        self.extractor = None
        if self.classifier:
            self.extractor = extractors.build("classifier", self.classifier, cfg)

    def run(self, variables):
        sums, count, pictures, features = {}, 0, [], {}
        key = jax.random.key(self.seed)
        for start in range(0, self.num_examples, self.batch_size):
            index = np.arange(start, min(start + self.batch_size, self.num_examples))
            x = self.data.read(index, np.random.default_rng(0))["image"].astype(np.float32) / 255
            mask, completed, scores = jax.device_get(
                self._fn(variables, x, jax.random.fold_in(key, start))
            )
            for prefix, per_image in scores.items():
                for name, v in per_image.items():
                    k = f"{prefix}hole_{name}"
                    sums[k] = sums.get(k, 0.0) + float(np.sum(v))
            if self.extractor is not None:
                for prefix, images in {**completed, "target": x}.items():
                    f, _ = self.extractor(images_lib.to_uint8(np.asarray(images)))
                    features.setdefault(prefix, []).append(f)
            count += len(index)
            if len(pictures) < self.num_pictures:
                shown = x * (1.0 - mask) + 0.5 * mask
                pictures += list(np.concatenate([shown, completed[""], x], axis=2))
        out = {k: v / count for k, v in sums.items()}
        if features:
            out.update(self._distances({k: np.concatenate(v) for k, v in features.items()}))
        grid = images_lib.make_grid(np.stack(pictures[: self.num_pictures]))
        return dict(sorted(out.items())), {"inpaintings": grid}

    def _distances(self, features) -> dict:
        target, out = features.pop("target"), {}
        if len(target) < 2:  # a covariance, and KID's unbiased MMD, need two images
            return out
        for prefix, f in features.items():
            tag = f"{self.classifier}"
            out[f"{prefix}fid/{tag}"] = sample_quality.fid(f, target)
            out[f"{prefix}kid/{tag}"], _ = sample_quality.kid(
                f,
                target,
                num_subsets=int(self.cfg.get("kid_subsets", 100)),
                subset_size=int(self.cfg.get("kid_subset_size", 1000)),
            )
        return out
