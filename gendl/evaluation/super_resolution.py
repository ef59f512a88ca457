"""Super-resolution quality on the test split (predict function `translate`, low resolution
-> high resolution): PSNR and SSIM of the model's upscaling and of bicubic upscaling (the
floor gendl computes itself), FID of both against the real test images, and a grid of
low-res input | bicubic | model | target.

Conventions (those of the SR literature since SRCNN, and SRGAN's tables):
  psnr_y, ssim_y  on the luminance channel, with a border of `scale` pixels cropped on every
                  side (the model cannot know what lies beyond the image). Luminance is
                  ITU-R BT.601's Y of MATLAB's rgb2ycbcr: (16 + 65.481 R + 128.553 G +
                  24.966 B) / 255 for R, G, B in [0, 1]; a grey image is its own luminance.
  psnr, ssim      on all channels (RGB), the whole image.
PSNR = 10 log10(1 / MSE) per image, averaged over images; SSIM as the translation evaluator
(gendl/evaluation/translation.py: 11x11 Gaussian window, sigma 1.5, valid positions).
The low-resolution inputs are the test images downscaled exactly as in training
(gendl.data.resolution.downscale), so every model and the bicubic floor see the same inputs.

FID (`fid_classifier`, e.g. "mnist" or "emoji_style"; "" = none): between the 128-unit
penultimate features of gendl's classifier of that data (gendl.evaluation.extractors, built
on first need) of the upscaled and of the real test images: how real the outputs look to a
network, where PSNR rewards the blurry average. SRGAN should lower it at some cost in PSNR.

`compare_with` (a workdir of another super-resolution run, e.g. the SRResNet an SRGAN
started from): its upscaling of the same inputs is scored alike (figures prefixed
"compare_") and shown as a column after bicubic, so one grid reads low-res | bicubic |
SRResNet | SRGAN | target, the paper's figure:
    python -m gendl.evaluate --workdir=runs/srgan --set=super_resolution.compare_with=runs/srresnet
"""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.config import ConfigError
from gendl.data import pipeline, resolution
from gendl.evaluation import extractors, runs, sample_quality, translation
from gendl.evaluation import predict as predict_lib
from gendl.monitoring import images as images_lib

Y_WEIGHTS, Y_OFFSET = (65.481, 128.553, 24.966), 16.0


def luminance(x):
    """[n, H, W, 3 or 1] in [0, 1] -> Y [n, H, W, 1] in [0, 1] (grey: itself)."""
    x = jnp.asarray(x, jnp.float32)
    if x.shape[-1] == 1:
        return x
    return (Y_OFFSET + x[..., :3] @ jnp.asarray(Y_WEIGHTS, jnp.float32))[..., None] / 255.0


def crop_border(x, border: int):
    return x[:, border : x.shape[1] - border, border : x.shape[2] - border] if border else x


def scores(output, target, border: int) -> dict:
    """{psnr_y, ssim_y, psnr, ssim}: [n] each, the conventions of the module docstring."""
    y_out, y_target = (crop_border(luminance(v), border) for v in (output, target))
    return {
        "psnr_y": translation.psnr(y_out, y_target),
        "ssim_y": translation.ssim(y_out, y_target),
        "psnr": translation.psnr(output, target),
        "ssim": translation.ssim(output, target),
    }


class SuperResolution:
    """config.evals.<name>: type "super_resolution", num_examples (default the whole test
    split), batch_size (64), num_pictures (16), border (default the scale), fid_classifier
    ("": no FID), classifier_workdir and the extractor's other settings, compare_with ("":
    none; else another run's workdir, see the module docstring)."""

    NEEDS = ("translate",)

    @staticmethod
    def prerequisites(exp, cfg):
        name = cfg.get("fid_classifier", "")
        if not name:
            return []
        data = exp.config.data
        return extractors.prerequisites_of("classifier", name, cfg, data.manual_dir, data.data_dir)

    def __init__(self, exp, cfg):
        (translate,) = predict_lib.of(exp).require("super_resolution evaluator", *self.NEEDS)
        self.scale = int(exp.config.model.get("scale", 4))
        border = int(cfg.get("border", self.scale))

        @jax.jit
        def upscale_and_score(variables, target):
            x = resolution.downscale(target, self.scale)
            out = {"": translate(variables, x), "bicubic_": resolution.upscale(x, self.scale)}
            values = {
                p + k: v for p, y in out.items() for k, v in scores(y, target, border).items()
            }
            return x, out, values

        self._fn = upscale_and_score
        self._compare = self._compared_run(cfg.get("compare_with", ""), border)
        self.data = pipeline.build_eval_data(exp.config, "test")
        self.num_examples = min(int(cfg.get("num_examples", len(self.data))), len(self.data))
        self.batch_size = int(cfg.get("batch_size", 64))
        self.num_pictures = int(cfg.get("num_pictures", 16))
        self.classifier = cfg.get("fid_classifier", "")
        self.extractor = (
            extractors.build("classifier", self.classifier, cfg) if self.classifier else None
        )

    def _compared_run(self, workdir, border):
        """(jitted upscale-and-score of the run at `workdir`, its variables), or None."""
        if not workdir:
            return None
        other = runs.load_run(workdir)
        (translate,) = predict_lib.of(other.exp).require(
            f"super_resolution evaluator's compare_with={workdir!r}", *self.NEEDS
        )
        if int(other.exp.config.model.get("scale", 4)) != self.scale:
            raise ConfigError(
                f"super_resolution.compare_with={workdir!r} upscales x"
                f"{other.exp.config.model.get('scale', 4)}, this run x{self.scale}: compare "
                "runs of the same scale."
            )

        @jax.jit
        def upscale_and_score(variables, target):
            out = translate(variables, resolution.downscale(target, self.scale))
            return out, scores(out, target, border)

        return upscale_and_score, other.state.variables()

    def run(self, variables):
        sums, count, pictures = {}, 0, []
        features = {"": [], "bicubic_": [], "compare_": [], "target": []}
        for start in range(0, self.num_examples, self.batch_size):
            index = np.arange(start, min(start + self.batch_size, self.num_examples))
            target = self.data.read(index, np.random.default_rng(0))["image"]
            target = np.asarray(target, np.float32) / 255.0
            x, out, values = jax.device_get(self._fn(variables, target))
            columns = [out["bicubic_"], out[""]]
            if self._compare is not None:
                fn, other_variables = self._compare
                out["compare_"], other = jax.device_get(fn(other_variables, target))
                values.update({"compare_" + k: v for k, v in other.items()})
                columns.insert(1, out["compare_"])
            for name, v in values.items():
                sums[name] = sums.get(name, 0.0) + float(np.sum(v))
            count += len(index)
            if self.extractor is not None:
                for key, images in (*out.items(), ("target", target)):
                    features[key].append(self.extractor(images_lib.to_uint8(images))[0])
            if len(pictures) < self.num_pictures:
                low = np.asarray(resolution.nearest(x, self.scale))
                pictures += list(np.concatenate([low, *columns, target], axis=2))
        result = {k: v / count for k, v in sums.items()}
        if self.extractor is not None and count >= 2:
            real = np.concatenate(features["target"])
            for prefix in [p for p in ("", "bicubic_", "compare_") if features[p]]:
                fid = sample_quality.fid(np.concatenate(features[prefix]), real)
                result[f"{prefix}fid/{self.classifier}"] = fid
        grid = images_lib.make_grid(np.stack(pictures[: self.num_pictures]))
        return dict(sorted(result.items())), {"upscaled": grid}
