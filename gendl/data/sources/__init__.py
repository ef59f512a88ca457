"""Where examples come from: one source per stream, chosen by `config.data.source`.

A source has `spec` (a DataSpec of one example's features), `__len__` and
`read(indices, rng) -> {feature: numpy array [*indices.shape, ...]}`; its random ops draw from
`rng` (see gendl.data.ops). Sources:
  "tfds_prepared" (default)  mnist / fashion_mnist / cifar10, prepared by gendl's own TFDS
                             builders (gendl.data.source) and held in memory;
  "arrays"                   a .npz file (`path`) of arrays named by feature ("image",
                             "label", ...), or per split ("train/image", "test/image", ...);
  "folder"                   an image folder (`path`), flat or one sub-folder per class;
  "paired_folders"           image folders (`paths`) paired by file name;
  "labelled_folders"         image folders (`paths`), one per class: `image` + `label`;
  "tfds_catalog"             any TFDS catalog dataset (`name`), needs TensorFlow;
  "melodies"                 melody windows (`tokens`, `tune`) of `bars` bars from the music21
                             corpus, at most `max_tunes` tunes (gendl.data.melody_builder).
Any of them can be cut to every count-th example from the index-th with `partition` =
(index, count) (sources/partition.py), e.g. disjoint halves for two streams.
"""

import os

import numpy as np

from gendl.config import ConfigError
from gendl.data import source as prepared
from gendl.data.errors import DataError
from gendl.data.sources.arrays import ArraySource
from gendl.data.sources.catalog import CatalogSource
from gendl.data.sources.folder import FolderSource
from gendl.data.sources.partition import Partition

KINDS = (
    "tfds_prepared",
    "arrays",
    "folder",
    "paired_folders",
    "labelled_folders",
    "tfds_catalog",
    "melodies",
)


def build(cfg, split: str):
    """The source of one stream's config (config.data or config.data.streams.<s>) for `split`."""
    source = _build(cfg, split)
    part = tuple(cfg.get("partition", ()) or ())
    if not part:
        return source
    if len(part) != 2:
        raise ConfigError(
            f"config.data.partition={part} must be a pair (index, count), e.g. (0, 2)."
        )
    return Partition(source, int(part[0]), int(part[1]))


def _build(cfg, split: str):
    kind = cfg.get("source", "tfds_prepared") or "tfds_prepared"
    ops = tuple(cfg.get("ops", ()))
    if kind == "tfds_prepared":
        return _prepared(cfg, split, ops)
    if kind == "arrays":
        return _arrays(_path(cfg, "path"), split, ops)
    if kind == "melodies":
        return _melodies(cfg, split)
    folder_options = dict(
        split=split,
        test_fraction=float(cfg.get("test_fraction", 0.1)),
        ops=ops,
        side_by_side=tuple(cfg.get("side_by_side", ())),
    )
    if kind == "folder":
        return FolderSource({"image": _path(cfg, "path")}, **folder_options)
    if kind == "paired_folders":
        return FolderSource(_paired(cfg), classes=False, **folder_options)
    if kind == "labelled_folders":
        return FolderSource(_paired(cfg), label_by_folder=True, **folder_options)
    if kind == "tfds_catalog":
        return CatalogSource(cfg.name, split, data_dir=cfg.get("data_dir") or None, ops=ops)
    raise ConfigError(f"config.data.source={kind!r}; use one of {', '.join(KINDS)}.")


def _prepared(cfg, split, ops):
    images, labels = prepared.load_split(
        cfg.name,
        split,
        manual_dir=cfg.get("manual_dir") or None,
        data_dir=cfg.get("data_dir") or None,
    )
    if cfg.get("exclude_labels"):
        keep = ~np.isin(labels, np.asarray(cfg.exclude_labels))
        images, labels = images[keep], labels[keep]
    # The gendl datasets all have 10 classes (gendl.data.builders).
    return ArraySource({"image": images, "label": labels}, num_classes=10, ops=ops)


def _melodies(cfg, split):
    from gendl.data import melody_builder

    manual_dir = prepared.resolve_manual_dir(cfg.get("manual_dir") or None)
    bars, max_tunes = int(cfg.get("bars", 2)), int(cfg.get("max_tunes", 0))
    if bars < 1 or max_tunes < 0:
        raise ConfigError(
            f"config.data.bars={bars} and config.data.max_tunes={max_tunes}: use bars >= 1 "
            "(2 or 16 for MusicVAE) and max_tunes >= 0 (0: every tune of the corpus)."
        )
    builder = prepared.prepare(
        melody_builder.NAME,
        manual_dir=manual_dir,
        data_dir=cfg.get("data_dir") or None,
        builder_cls=melody_builder.MelodyBuilder,
        config=melody_builder.builder_config(
            bars,
            max_tunes,
            float(cfg.get("test_fraction", 0.1)),
            melody_builder.origin(manual_dir),
        ),
    )
    if split not in prepared.SPLITS:
        raise DataError(f"Unknown split {split!r} of the melodies; use one of {prepared.SPLITS}.")
    arrays = prepared.read_features(builder, split)
    if not len(arrays["tokens"]):
        raise DataError(
            f"The {split} split of the melodies holds no windows ({builder.builder_config.name}: "
            f"too few tunes read). Raise config.data.max_tunes (0: all) or lower config.data.bars."
        )
    return ArraySource(arrays)


def _arrays(path, split, ops):
    try:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as err:
        raise DataError(
            f"The arrays file {path} cannot be read as a numpy .npz file ({err}). Point "
            "config.data.path at a file written by numpy.savez."
        ) from err
    if any("/" in k for k in arrays):
        prefix = f"{split}/"
        arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        if not arrays:
            raise DataError(
                f"The arrays file {path} has no arrays of split {split!r} (named "
                f"'{split}/<feature>'). Add them, or use the split it holds."
            )
    labels = arrays.get("label")
    num_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    return ArraySource(arrays, num_classes=num_classes, ops=ops)


def _path(cfg, key):
    path = cfg.get(key) or ""
    if not path:
        raise ConfigError(
            f"config.data.source={cfg.get('source')!r} reads config.data.{key}, which is empty. "
            f"Pass --config.data.{key}=<folder or file>."
        )
    return _expand(path, cfg)


def _expand(path, cfg):
    """`{manual_dir}` in a path stands for config.data.manual_dir (e.g. the emoji folders)."""
    manual_dir = cfg.get("manual_dir") or os.environ.get(prepared.MANUAL_DIR_ENV, "")
    if "{manual_dir}" in path and not manual_dir:
        raise ConfigError(
            f"The data path {path!r} starts in the manual dir, but neither "
            f"config.data.manual_dir nor {prepared.MANUAL_DIR_ENV} is set. Set one of them."
        )
    return os.path.expanduser(path.replace("{manual_dir}", manual_dir))


def _paired(cfg) -> dict:
    paths = [_expand(p, cfg) for p in cfg.get("paths", ())]
    names = tuple(cfg.get("names", ())) or tuple(
        os.path.basename(os.path.normpath(p)) for p in paths
    )
    if len(paths) < 2 or len(names) != len(paths) or len(set(names)) != len(names):
        raise ConfigError(
            f"config.data.source={cfg.get('source')!r} needs two or more folders in "
            f"config.data.paths (got {len(paths)}) and as many distinct feature names in "
            f"config.data.names (got {names}; empty: the folders' base names)."
        )
    return dict(zip(names, paths, strict=True))
