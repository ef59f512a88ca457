"""Image-to-image translation quality on the test split (predict function `translate`): mean
L1, PSNR and SSIM of translation against target, the same of the input itself against the
target (the identity baseline a translation has to beat), and a grid of input | translation |
target triptychs.

All on pixels in [0, 1]. PSNR = 10 log10(1 / MSE) per image, averaged over images. SSIM
(Wang et al. 2004, "Image Quality Assessment: From Error Visibility to Structural
Similarity", eq. 13) with the standard settings: an 11x11 Gaussian window of sigma 1.5,
K1 = 0.01, K2 = 0.03, dynamic range 1; local statistics over the window positions inside the
image ("valid"), each channel on its own, the map averaged over positions and channels.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.data import paired_view, pipeline
from gendl.data.errors import DataError
from gendl.evaluation import predict as predict_lib
from gendl.evaluation import prerequisites
from gendl.evaluation import style as style_lib
from gendl.monitoring import images as images_lib

WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    """[size, size] weights summing to 1."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    w = np.outer(g, g)
    return (w / w.sum()).astype(np.float32)


def _local_mean(x, window):
    """Window-weighted means of every channel of x [n, H, W, C] at the valid positions."""
    n, h, w, c = x.shape
    planes = x.transpose(0, 3, 1, 2).reshape(n * c, h, w, 1)
    k = jnp.asarray(window)[:, :, None, None]
    # Full float32 precision: the variances are differences of nearly equal means.
    out = jax.lax.conv_general_dilated(
        planes,
        k,
        (1, 1),
        "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )
    return out.reshape(n, c, *out.shape[1:3]).transpose(0, 2, 3, 1)


def ssim(x, y, window=None):
    """SSIM per image of x, y [n, H, W, C] in [0, 1] (H, W >= the window) -> [n]."""
    window = gaussian_window() if window is None else window
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    mx, my = _local_mean(x, window), _local_mean(y, window)
    # (Co)variances are shift invariant: taken around each image's own mean, E[x^2] - E[x]^2
    # does not cancel away float32's digits (skimage computes in float64 instead).
    x = x - jnp.mean(x, axis=(1, 2), keepdims=True)
    y = y - jnp.mean(y, axis=(1, 2), keepdims=True)
    cx, cy = _local_mean(x, window), _local_mean(y, window)
    vx = _local_mean(x * x, window) - cx**2
    vy = _local_mean(y * y, window) - cy**2
    cov = _local_mean(x * y, window) - cx * cy
    c1, c2 = K1**2, K2**2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return jnp.mean(s, axis=(1, 2, 3))


def psnr(x, y):
    """[n] PSNR in dB of images in [0, 1]."""
    mse = jnp.mean((jnp.asarray(x) - jnp.asarray(y)) ** 2, axis=(1, 2, 3))
    return 10.0 * jnp.log10(1.0 / jnp.maximum(mse, 1e-12))


def l1(x, y):
    return jnp.mean(jnp.abs(jnp.asarray(x) - jnp.asarray(y)), axis=(1, 2, 3))


def scores(output, target) -> dict:
    """{"l1", "psnr", "ssim"}: [n] each."""
    return {"l1": l1(output, target), "psnr": psnr(output, target), "ssim": ssim(output, target)}


def test_data(exp):
    """The paired test split: the config's own (pix2pix: features "a" and "b"), or for an
    unpaired translator the pairs of its two domains' folders; prerequisites.Unavailable
    (the trainer skips the evaluation with a warning) when the domains have no true pairs."""
    domains = getattr(exp.objective, "domains", None)
    if domains is None:
        return pipeline.build_eval_data(exp.config, "test")
    try:
        return paired_view.test_pairs(exp.config, domains)
    except paired_view.NoTruePairs as err:
        raise prerequisites.Unavailable(str(err)) from err


class Translation:
    """config.evals.<name>: type "translation", direction ("a2b" or "b2a"; default the
    model's, config.objective.direction, else "a2b"), num_examples (default all of the test
    split), batch_size (64), num_pictures (16), seed (the dropout noise); style_classifier,
    style_classes and the rest of gendl.evaluation.style's settings for style accuracy and
    FID/KID in a style classifier's features.

    Unpaired translators (objectives with `domains`) are scored against the true pairs of
    their two folders' test split (gendl.data.paired_view), which training never sees."""

    NEEDS = ("translate",)

    @staticmethod
    def prerequisites(exp, cfg):
        return style_lib.prerequisites(exp, cfg)

    def __init__(self, exp, cfg):
        direction = str(cfg.get("direction", "") or exp.config.objective.get("direction", "a2b"))
        translate = predict_lib.translator(exp, direction, "translation evaluator")
        self._fn = jax.jit(translate)
        self._scores = jax.jit(scores)
        self.source, self.target = direction.split("2")
        self.data = test_data(exp)
        if self.source not in self.data.spec.features or self.target not in self.data.spec.features:
            raise DataError(
                f"The translation evaluator reads features {self.source!r} and {self.target!r} "
                f"(config.objective.direction={direction!r}), but the test data has "
                f"{sorted(self.data.spec.features)}."
            )
        self.num_examples = min(int(cfg.get("num_examples", len(self.data))), len(self.data))
        self.batch_size = int(cfg.get("batch_size", 64))
        self.num_pictures = int(cfg.get("num_pictures", 16))
        self.seed = int(cfg.get("seed", 0))
        self.style = None
        if cfg.get("style_classifier", ""):
            self.style = style_lib.StyleScores(cfg, self.target)

    def run(self, variables):
        sums, count, pictures = {}, 0, []
        key = jax.random.key(self.seed)
        style = self.style
        if style is not None:
            style.reset()
        for start in range(0, self.num_examples, self.batch_size):
            index = np.arange(start, min(start + self.batch_size, self.num_examples))
            batch = self.data.read(index, np.random.default_rng(0))
            x = batch[self.source].astype(np.float32) / 255.0
            y = batch[self.target].astype(np.float32) / 255.0
            y_hat = np.asarray(self._fn(variables, x, jax.random.fold_in(key, start)))
            for prefix, out in (("", y_hat), ("identity_", x)):
                for name, v in self._scores(out, y).items():
                    sums[prefix + name] = sums.get(prefix + name, 0.0) + float(np.sum(v))
            if style is not None:
                style.add(x, y_hat, y)
            count += len(index)
            if len(pictures) < self.num_pictures:
                pictures += list(np.concatenate([x, y_hat, y], axis=2))
        grid = images_lib.make_grid(np.stack(pictures[: self.num_pictures]))
        scores = {k: v / count for k, v in sums.items()}
        if style is not None:
            scores.update(style.result())
        return dict(sorted(scores.items())), {"translations": grid}
