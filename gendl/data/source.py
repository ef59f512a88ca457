"""Loads a whole dataset split into memory, preparing it with gendl's TFDS builders on first use.

The supported datasets are small (at most 50000 x 32x32x3 bytes), and reading one example from
TFDS's data source costs about 60 us, which would dominate a fast train step; so a split is read
once into numpy arrays and batches are gathered from memory (see ``gendl.data.sampler``).

TFDS and the builders are imported inside the functions, so importing this module stays cheap.
The error classes live in ``gendl.data.errors`` (re-exported here), which the builders import
without importing this module.
"""

import contextlib
import fcntl
import json
import logging
import os
import pathlib
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

# Re-exported: callers import the errors from here.
from gendl.data.errors import DataError, DataNotFoundError, corrupt_file_error  # noqa: F401

if TYPE_CHECKING:
    import tensorflow_datasets as tfds

    from gendl.data import builders


MANUAL_DIR_ENV = "GENDL_MANUAL_DIR"
SPLITS = ("train", "test")
# Examples decoded per `__getitems__` call: large enough to amortise the call, small enough
# that the list of decoded dicts stays far below the size of the split.
_READ_CHUNK = 8192


def load_split(
    name: str,
    split: str,
    *,
    manual_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (uint8 images [N, H, W, C], int32 labels [N]) of a split, in TFDS's stored order.

    Prepares the dataset first if needed (see `prepare`).
    """
    if split not in SPLITS:
        raise DataError(f"Unknown split {split!r} of dataset {name!r}; use one of {SPLITS}.")
    builder = prepare(name, manual_dir=manual_dir, data_dir=data_dir)
    return _read_split(builder, split)


def prepare(
    name: str,
    *,
    manual_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    builder_cls=None,
    config=None,
) -> "tfds.core.DatasetBuilder":
    """Prepares `name` (once) under ``<data_dir>/gendl`` and returns its TFDS builder.

    manual_dir: folder holding ``<name>/<original files>``; default env GENDL_MANUAL_DIR. When
        it lacks the files, TFDS downloads them. Relative paths are taken from the cwd.
    data_dir: TFDS data dir; default env TFDS_DATA_DIR, else ``~/tensorflow_datasets``.
    builder_cls, config: a builder outside `builders.DATASETS` (the melodies) and its
        BuilderConfig, prepared and cached per config.
    """
    import tensorflow_datasets as tfds

    from gendl.data import builders

    builder_cls = builder_cls or _builder_cls(name)
    manual_dir = resolve_manual_dir(manual_dir)
    root = gendl_data_dir(data_dir)
    tfds.disable_progress_bar()
    options = {"config": config} if config is not None else {}
    make = lambda: builder_cls(data_dir=os.fspath(root), file_format="array_record", **options)
    builder = make()
    # The SHA-256 of the manual dir's files now; None when there are none (downloaded files).
    sources = _manual_sources(builder_cls, manual_dir)
    # TFDS renames the finished dataset into place, so its folder exists only when complete.
    # (`builder.is_prepared()` would log a warning whenever it is not.)
    if _is_current(builder, sources):
        # A builder reads the dataset's splits when it is made: one made before another
        # process finished preparing has none, so it is made again.
        return builder if builder.info.splits else make()
    # Several processes (hosts on one machine, pytest-xdist workers) may prepare at once. TFDS
    # writes into an incomplete.* dir and renames it at the end, so the last one to finish
    # would fail; the lock makes the others wait and then reuse the prepared data.
    with _exclusive_lock(root / f".{name}.lock"):
        builder = make()
        if _is_current(builder, sources):
            return builder
        if builder.data_path.exists():
            logging.warning(
                "The original %s files in %s differ from those its prepared data in %s came "
                "from; preparing it again from the current files.",
                name,
                manual_dir / name if manual_dir is not None else "the manual dir",
                builder.data_path,
            )
            shutil.rmtree(os.fspath(builder.data_path))
        download_config = tfds.download.DownloadConfig(
            manual_dir=None if manual_dir is None else os.fspath(manual_dir),
            # Never fetch a prepared copy from TFDS's GCS bucket: it would be the catalog
            # dataset of the same name, with a different feature format.
            try_download_gcs=False,
        )
        try:
            builder.download_and_prepare(download_config=download_config)
        except builders.DownloadFailedError as err:
            raise DataNotFoundError(_not_found_message(builder_cls, manual_dir, root, err)) from (
                err.__cause__ or err
            )
        if getattr(builder, "verified_sources", None) is not None:
            _write_sources(builder, builder.verified_sources)
    return builder


# Written into the prepared dataset's folder: the original files it was prepared from.
SOURCES_FILENAME = "gendl_sources.json"


def _manual_sources(builder_cls, manual_dir: pathlib.Path | None) -> dict[str, str] | None:
    """File name -> SHA-256 of the dataset's files in the manual dir, or None when it holds
    none (then the prepared data, from the manual dir or a download, is reused as it is), or
    for builders without original files (the melodies, parsed from the music21 corpus)."""
    if manual_dir is None or not hasattr(builder_cls, "file_names"):
        return None
    from gendl.data import builders

    folder = manual_dir / builder_cls.name
    paths = [folder / file for file in builder_cls.file_names().values()]
    if not any(path.is_file() for path in paths):
        return None
    return {path.name: builders.file_hashes(path)[1] for path in paths if path.is_file()}


def _is_current(builder, sources: dict[str, str] | None) -> bool:
    """Whether prepared data exists and came from `sources` (when known)."""
    if not builder.data_path.exists():
        return False
    if sources is None:
        return True
    try:
        recorded = json.loads((builder.data_path / SOURCES_FILENAME).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False  # prepared before gendl recorded its sources, or the record is damaged
    return recorded == sources


def _write_sources(builder, sources: dict[str, str]) -> None:
    record = json.dumps({"files": sources}, indent=1, sort_keys=True)
    tmp = builder.data_path / f".{SOURCES_FILENAME}.tmp"
    tmp.write_text(record)
    os.replace(tmp, builder.data_path / SOURCES_FILENAME)


def resolve_manual_dir(manual_dir: str | os.PathLike | None) -> pathlib.Path | None:
    """The manual dir as an absolute path (relative to the cwd), or None when not configured."""
    if manual_dir is None:
        manual_dir = os.environ.get(MANUAL_DIR_ENV) or None
    if manual_dir is None:
        return None
    return pathlib.Path(manual_dir).expanduser().absolute()


def gendl_data_dir(data_dir: str | os.PathLike | None) -> pathlib.Path:
    """``<TFDS data dir>/gendl``: a separate root, so gendl's builders never meet the catalog's."""
    if data_dir is None:
        data_dir = os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return pathlib.Path(data_dir).expanduser().absolute() / "gendl"


def supported_datasets() -> tuple[str, ...]:
    from gendl.data import builders

    return tuple(builders.DATASETS)


def _builder_cls(name: str) -> "type[builders.OriginalFilesBuilder]":
    from gendl.data import builders

    if name not in builders.DATASETS:
        raise DataError(
            f"Unknown dataset {name!r}. Supported datasets: {', '.join(builders.DATASETS)}."
        )
    return builders.DATASETS[name]


@contextlib.contextmanager
def _exclusive_lock(path: pathlib.Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Append mode: opening must neither truncate nor fail when another process holds the file.
    with open(path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _not_found_message(
    builder_cls: "type[builders.OriginalFilesBuilder]",
    manual_dir: pathlib.Path | None,
    root: pathlib.Path,
    err: Exception,
) -> str:
    name = builder_cls.name
    files = ", ".join(builder_cls.file_names().values())
    if manual_dir is None:
        looked = f"{MANUAL_DIR_ENV} is unset, so gendl looked for no local copy of"
    else:
        looked = f"gendl found nothing in {manual_dir / name}, where it looked for"
    return (
        f"Dataset {name!r} is not available: {looked} its original files ({files}), and "
        f"downloading them failed: {err}. Either (a) set {MANUAL_DIR_ENV} (or "
        f"--config.data.manual_dir) to a folder that holds {name}/ with these files, or (b) run "
        f"once with internet access so TFDS downloads them from "
        f"{_download_location(builder_cls.URLS)} (the prepared data is then kept in {root})."
    )


def _download_location(urls: dict[str, str]) -> str:
    """The one URL, or the folder URL that several files share (shorter in a message)."""
    if len(urls) == 1:
        return next(iter(urls.values()))
    folders = {url.rsplit("/", 1)[0] + "/" for url in urls.values()}
    return ", ".join(sorted(folders))


def _read_split(builder: "tfds.core.DatasetBuilder", split: str) -> tuple[np.ndarray, np.ndarray]:
    source = builder.as_data_source(split=split)
    num_examples = len(source)
    images = np.empty((num_examples, *builder.info.features["image"].shape), np.uint8)
    labels = np.empty((num_examples,), np.int32)
    # One `__getitems__` per chunk: much cheaper than one `__getitem__` per example.
    for start in range(0, num_examples, _READ_CHUNK):
        stop = min(start + _READ_CHUNK, num_examples)
        records = source.__getitems__(list(range(start, stop)))
        images[start:stop] = np.stack([record["image"] for record in records])
        labels[start:stop] = [record["label"] for record in records]
    return images, labels


def read_features(builder: "tfds.core.DatasetBuilder", split: str) -> dict:
    """{feature: numpy array [N, ...]} of a prepared split's tensor features, in stored order."""
    source = builder.as_data_source(split=split)
    features = builder.info.features
    arrays = {
        name: np.empty((len(source), *features[name].shape), features[name].np_dtype)
        for name in features
    }
    for start in range(0, len(source), _READ_CHUNK):
        stop = min(start + _READ_CHUNK, len(source))
        records = source.__getitems__(list(range(start, stop)))
        for name, array in arrays.items():
            array[start:stop] = np.stack([record[name] for record in records])
    return arrays
