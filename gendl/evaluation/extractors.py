"""Feature extractors for sample-quality metrics, looked up by name.

An extractor maps images (uint8 or float in [0, 1], [n, H, W, C]) to `(features [n, D],
logits [n, K] or None)`: features for FID, KID and precision/recall, logits for the Inception
Score and mode coverage. Its `fingerprint` changes whenever its weights do, so cached
reference statistics (gendl.evaluation.reference) of an older checkpoint are never reused.

- "classifier": gendl's own domain classifier (gendl/evaluation/classifier_config.py), trained
  by gendl on the dataset being evaluated, on first need (`prerequisites_of`). It lives at
  `<classifier_workdir>` when the evaluator's config sets one, else at
  `$GENDL_CACHE_DIR/classifier/<dataset>` (GENDL_CACHE_DIR defaults to ~/.cache/gendl). Its
  penultimate (128-unit) layer gives the features.
- "inception": the FID Inception-v3 of pytorch-fid (third_party/inception; pool3, 2048
  features; images resized to 299x299 bilinear, grey repeated to RGB), with the weights file
  at `inception_weights` (default $GENDL_CACHE_DIR/inception/pt_inception-2015-12-05-...pth).

Adding an extractor = one REGISTRY entry `build(dataset, evaluator config) -> Extractor`; its
`apply` receives float images in [0, 1] at the dataset's resolution and does its own
resizing (Inception: bilinear to 299x299, grey replicated to RGB), so evaluators, reference
caching and metric names need no change.
"""

import dataclasses
import functools
import hashlib
import os
from collections.abc import Callable

import jax
import numpy as np

from gendl.config import ConfigError
from gendl.data.sampler import to_float
from gendl.evaluation import predict, prerequisites, runs

# Where gendl keeps what it builds once (classifiers, reference statistics); defined beside
# the prerequisites that build them, which the objectives' feature networks also use.
CACHE_DIR_ENV = prerequisites.CACHE_DIR_ENV
cache_dir = prerequisites.cache_dir
classifier_workdir = prerequisites.classifier_workdir
classifier_prerequisite = prerequisites.classifier_prerequisite


@dataclasses.dataclass
class Extractor:
    name: str  # goes into metric names, e.g. fid/classifier/10k/test
    fingerprint: str  # hash of the weights: part of the reference cache key
    image_shape: tuple | None  # the [H, W, C] it accepts; None: any (it resizes itself)
    num_classes: int | None
    apply: Callable  # jitted float images [b, H, W, C] -> (features, logits or None)
    batch_size: int = 500

    def __call__(self, images):
        """Features and logits of all `images`, computed batch by batch; numpy float32."""
        images = np.asarray(images)
        if self.image_shape is not None and tuple(images.shape[1:]) != tuple(self.image_shape):
            raise ConfigError(
                f"The {self.name} feature extractor takes images of shape {self.image_shape}, "
                f"got {tuple(images.shape[1:])}: evaluate with an extractor trained on this "
                "dataset."
            )
        features, logits = [], []
        for i in range(0, len(images), self.batch_size):
            batch = images[i : i + self.batch_size]
            valid = len(batch)
            if valid < self.batch_size:  # one shape, one compilation
                batch = np.concatenate([batch, np.repeat(batch[-1:], self.batch_size - valid, 0)])
            f, lg = jax.device_get(self.apply(_unit_float(batch)))
            features.append(np.asarray(f, np.float32)[:valid])
            if lg is not None:
                logits.append(np.asarray(lg, np.float32)[:valid])
        return np.concatenate(features), (np.concatenate(logits) if logits else None)


def _unit_float(images):
    """uint8 pixels or floats already in [0, 1] -> float32 in [0, 1]. Floats are checked, not
    rescaled: dividing them by 255 again would score near-black images without a word."""
    if images.dtype == np.uint8:
        return to_float(images)
    if not np.issubdtype(images.dtype, np.floating):
        raise ConfigError(
            f"Feature extractors take uint8 pixels or floats in [0, 1], got {images.dtype} "
            "images: convert them to one of these first."
        )
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise ConfigError(
            f"Feature extractors take float images in [0, 1], got values in [{lo:g}, {hi:g}]: "
            "pass uint8 pixels (0-255), or map [-1, 1] outputs to [0, 1] with (x + 1) / 2."
        )
    return images.astype(np.float32)


def _missing_classifier(dataset, workdir):
    how_to = classifier_prerequisite(dataset, {"classifier_workdir": workdir}).how_to
    return prerequisites.Unavailable(
        f"No trained classifier for {dataset!r} at {workdir}: the 'classifier' feature "
        "extractor (FID, KID, IS, precision/recall) is gendl's own domain classifier, trained "
        "once per dataset. gendl.main, gendl.evaluate and gendl.floors build it there on first "
        f"need; to build it by hand run `{how_to}` (add GENDL_MANUAL_DIR=<dir> to prepare the "
        "data offline), or point config.evals.<name>.classifier_workdir at a classifier run "
        "you already have."
    )


def _fingerprint(tree) -> str:
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_leaves_with_path(jax.device_get(tree)):
        h.update(jax.tree_util.keystr(path).encode())
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()


def _classifier(dataset, cfg):
    path = classifier_workdir(dataset, cfg)
    if not os.path.exists(os.path.join(path, "config.json")):
        raise _missing_classifier(dataset, path)
    try:
        run = runs.load_run(path)
    except ConfigError as e:
        raise _missing_classifier(dataset, path) from e
    if run.config.objective.name != "classifier":
        raise ConfigError(
            f"{path} holds a {run.config.objective.name!r} run, not a classifier: point "
            "classifier_workdir at a run of configs/classifier.py."
        )
    if run.config.data.name != dataset:
        raise ConfigError(
            f"The classifier at {path} was trained on {run.config.data.name!r}, not {dataset!r}."
        )
    (features,) = predict.of(run.exp).require("classifier feature extractor", "features")
    variables = run.state.variables()
    apply = jax.jit(lambda x: features(variables, x))
    return Extractor(
        name="classifier",
        fingerprint=_fingerprint(variables),
        image_shape=tuple(run.exp.objective.image_shape),
        num_classes=int(run.config.model.num_classes),
        apply=apply,
        batch_size=int(cfg.get("extractor_batch_size", 500)),
    )


INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


def inception_weights(cfg) -> str:
    return cfg.get("inception_weights", "") or os.path.join(
        cache_dir(), "inception", INCEPTION_FILE
    )


def _missing_inception(path):
    from third_party import inception

    return prerequisites.Unavailable(
        f"No Inception-v3 FID weights at {path}. Download {inception.FID_WEIGHTS_URL} (91 MiB, "
        f"pytorch-fid's port of the 2015 TensorFlow graph) to that path, or set "
        "config.evals.<name>.inception_weights to where you keep it (see third_party/README.md)."
    )


def _inception(dataset, cfg):
    """pytorch-fid's Inception-v3: pool3 features; IS logits = pool3 @ W without the bias,
    as the original Inception Score code. Resizing to 299x299 happens inside."""
    del dataset
    from third_party import inception

    path = inception_weights(cfg)
    if not path.startswith(("http://", "https://")) and not os.path.exists(path):
        raise _missing_inception(path)
    variables = inception.load_params(path, cache_dir=os.path.join(cache_dir(), "inception"))

    @jax.jit
    def fn(variables, x):
        pool3, _ = inception.features(variables, x)
        return pool3, inception.logits_without_bias(variables, pool3)

    return Extractor(
        name="inception",
        fingerprint=_fingerprint(variables),
        image_shape=None,
        num_classes=inception.NUM_LOGITS,
        apply=functools.partial(fn, variables),
        batch_size=int(cfg.get("extractor_batch_size", 50)),  # 299x299 activations
    )


# name -> build(dataset name, evaluator config) -> Extractor
REGISTRY = {"classifier": _classifier, "inception": _inception}


def check_available(name: str, dataset: str, cfg) -> None:
    """Raises Unavailable for what `build` would miss and gendl cannot build (the Inception
    weights), without loading anything; the classifier is built on first need."""
    if name == "inception":
        path = inception_weights(cfg)
        if not path.startswith(("http://", "https://")) and not os.path.exists(path):
            raise _missing_inception(path)
    elif name not in REGISTRY:
        build(name, dataset, cfg)


def prerequisites_of(name: str, dataset: str, cfg, manual_dir="", data_dir="") -> list:
    """What extractor `name` needs built before `build` can load it."""
    if name == "classifier":
        return [classifier_prerequisite(dataset, cfg, manual_dir, data_dir)]
    return []


def build(name: str, dataset: str, cfg) -> Extractor:
    if name not in REGISTRY:
        raise ConfigError(
            f"Unknown feature extractor {name!r}; known: {', '.join(sorted(REGISTRY))}."
        )
    return REGISTRY[name](dataset, cfg)
