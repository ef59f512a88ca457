"""Features of real images, computed once per (dataset, split, extractor weights, count) and
cached on disk under `$GENDL_CACHE_DIR/reference/` (default ~/.cache/gendl/reference/).

The file name holds the dataset, split, extractor name, the first 16 hex digits of the
extractor's weight fingerprint and the number of images, so a retrained classifier or a
different count never reads stale statistics. The images are the first `n` of the split in
its stored (TFDS) order.
"""

import os

import numpy as np
from absl import logging

from gendl.data import source
from gendl.evaluation import extractors
from gendl.evaluation import sample_quality as sq


def cache_path(dataset, split, extractor, n) -> str:
    name = f"{dataset}_{split}_{extractor.name}_{extractor.fingerprint[:16]}_n{n}.npz"
    return os.path.join(extractors.cache_dir(), "reference", name)


def reference_features(extractor, dataset, split, n, *, manual_dir=None, data_dir=None) -> dict:
    """{"features": [n, D], "logits": [n, K] (if the extractor has them), "mean": [D],
    "cov": [D, D]} of the first n images of the split; n is capped at the split's size and
    the dict's "n" says how many were used."""
    images, _ = source.load_split(dataset, split, manual_dir=manual_dir, data_dir=data_dir)
    n = min(int(n), len(images))
    path = cache_path(dataset, split, extractor, n)
    if os.path.exists(path):
        with np.load(path) as f:
            return dict(f)
    logging.info(
        "Computing the %s reference features of %d %s %s images, once, cached in %s",
        extractor.name,
        n,
        dataset,
        split,
        path,
    )
    features, logits = extractor(images[:n])
    fit = sq.GaussianFit().update(features)
    out = {"features": features, "mean": fit.mean, "cov": fit.cov, "n": np.int64(n)}
    if logits is not None:
        out["logits"] = logits
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.npz"  # a crash mid-write must not leave a truncated cache
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return out


def real_data_floors(dataset, n=10_000, extractor="classifier", cfg=None, **data_kwargs) -> dict:
    """The sample-quality metrics of real images against real images: the first n test
    images scored against the first n training images, as a generator would be. No model
    can be expected to do better than these on the same protocol."""
    ext = extractors.build(extractor, dataset, cfg or {})
    test = reference_features(ext, dataset, "test", n, **data_kwargs)
    train = reference_features(ext, dataset, "train", n, **data_kwargs)
    tag = f"{ext.name}/{n // 1000}k" if n % 1000 == 0 else f"{ext.name}/{n}"
    out = {"extractor_fingerprint": ext.fingerprint[:16]}
    out[f"fid/{tag}/test_vs_train"] = sq.frechet_distance(
        test["mean"], test["cov"], train["mean"], train["cov"]
    )
    kid_mean, kid_std = sq.kid(train["features"], test["features"])
    out[f"kid/{tag}/test_vs_train"], out[f"kid_std/{tag}/test_vs_train"] = kid_mean, kid_std
    p, r = sq.precision_recall(test["features"], train["features"])
    out[f"precision/{tag}/train_vs_test"], out[f"recall/{tag}/train_vs_test"] = p, r
    if "logits" in test:
        for split, feats in (("test", test), ("train", train)):
            mean, std = sq.inception_score(feats["logits"])
            out[f"is/{tag}/{split}"], out[f"is_std/{tag}/{split}"] = mean, std
    return {k: float(v) if not isinstance(v, str) else v for k, v in out.items()}
