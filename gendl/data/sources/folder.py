"""Image folders, read per batch (never loaded whole up front), decoded with Pillow.

Each file's decoded image after the ops that draw no random numbers (e.g. "alpha_white",
"resize:72"; see ops.fixed_prefix) is kept in memory up to `cache_bytes` per source (default
CACHE_BYTES), so a small dataset (emoji: ~110 MB at 72x72) is decoded once, not every epoch:
Pillow's decode, composite and resize took 25-29 ms of every Pix2Pix batch of 16, which bound
the training loop on a GPU. Only the random ops (crops, flips, mutation) run per read.

Layouts (`config.data.source`):
  - "folder", flat: PNG/JPEG/... files directly in `path` (any sizes and modes) -> feature
    `image`. Sub-folders are ignored when the folder holds images itself.
  - "folder", classes: no images directly in `path`, one sub-folder per class -> `image` and
    `label` (int32), classes numbered in the sorted order of the sub-folder names.
  - "paired_folders": `paths` = two or more flat folders whose files are paired by name (the
    name without its extension); only names present in every folder are used. Features are
    named by `names` (default: each folder's base name, e.g. "google", "twitter").
  - "labelled_folders": `paths` = two or more flat folders, one per class: every image of
    every folder is an example -> `image` and `label` (int32), the index of its folder in
    `paths` (e.g. emoji styles: google 0, twitter 1). Class names: `names`, else the folders'
    base names. Files of the same name get the same split, whichever folder they are in.
  - `side_by_side` = names of N parts (e.g. ("a", "b")): each image of a folder holds N
    images side by side (the pix2pix convention "A|B"); it is cut into N equal-width features.

Train/test split: when every folder has a sub-folder named like the split ("train", "test"),
that sub-folder is read. Otherwise the split is fixed by a hash of each file's name: a file is
in "test" when the first 8 bytes of sha1(<its name relative to the folder, '/'-separated,
without the extension, UTF-8>), read as a big-endian integer and divided by 2**64, are below
`test_fraction` (default 0.1), else in "train". This is deterministic, needs no stored list,
and keeps a file in the same split when others are added or removed. Paired files share
their name, hence their split.

Every file of a read folder must be an image (hidden files, starting with ".", are skipped):
a file with another extension, or one Pillow cannot decode, stops the run with a DataError
naming it.
"""

import hashlib
import os
import pathlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from gendl.data import ops as ops_lib
from gendl.data.errors import DataError
from gendl.data.spec import DataSpec, Feature

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLITS = ("train", "test")
# Memory one source may keep of decoded, fixed-op images; files past it are decoded per read.
CACHE_BYTES = 1 << 30
# Modes Pillow decodes to: grey, grey + alpha, colour, colour + alpha; others convert to these.
_GREY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "F")


def in_split(key: str, split: str, test_fraction: float) -> bool:
    """Whether the file with hash key `key` (see the module docstring) is in `split`."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    is_test = int.from_bytes(digest[:8], "big") / 2**64 < test_fraction
    return is_test == (split == "test")


class FolderSource:
    """Examples are image files, or tuples of files paired by name, of image folders.

    folders: {feature name: folder}; several: paired by file name.
    classes: read class sub-folders of the one folder, adding the `label` feature; None (default):
        when that folder holds no images itself.
    label_by_folder: `folders` = {class name: flat folder}; every image is an example
        (`image`), labelled with its folder's position (`label`).
    """

    def __init__(
        self,
        folders: dict,
        *,
        split: str = "train",
        test_fraction: float = 0.1,
        ops=(),
        side_by_side=(),
        classes: bool | None = None,
        label_by_folder: bool = False,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.ops = ops_lib.parse(ops)
        fixed = ops_lib.fixed_prefix(tuple(ops))
        self._fixed_ops, self._random_ops = self.ops[:fixed], self.ops[fixed:]
        self._cache, self._cache_left = {}, cache_bytes
        self.side_by_side = tuple(side_by_side)
        if side_by_side and len(folders) != 1:
            raise DataError(
                "side_by_side cuts the images of ONE folder into parts; it was given "
                f"{len(folders)} folders. Configure one folder (config.data.path)."
            )
        roots, own_split = _split_roots(folders, split)
        if label_by_folder:
            self.class_names = tuple(roots)
            entries = _folder_label_entries(roots)
        else:
            if classes is None:
                classes = len(roots) == 1 and not has_images(next(iter(roots.values())))
            self.class_names = _class_folders(next(iter(roots.values()))) if classes else ()
            entries = _class_entries(roots, self.class_names) if classes else _paired_entries(roots)
        if not own_split:
            entries = [e for e in entries if in_split(e[0], split, test_fraction)]
        if not entries:
            raise DataError(
                f"The image folder(s) {_listed(roots)} hold no images for split {split!r}"
                f"{'' if own_split else f' (test_fraction={test_fraction})'}. Put PNG or JPEG "
                "files there (for paired folders: files of the same name in every folder)."
            )
        self.keys = [e[0] for e in entries]
        self.files = [e[1] for e in entries]
        self.labels = np.asarray([e[2] for e in entries], np.int32) if self.class_names else None
        self.spec = self._spec()

    def __len__(self) -> int:
        return len(self.files)

    def read(self, indices, rng: np.random.Generator) -> dict:
        indices = np.asarray(indices)
        examples = [self._example(int(i), rng) for i in indices.reshape(-1)]
        batch = {}
        for name in examples[0]:
            shapes = {e[name].shape for e in examples}
            if len(shapes) > 1:
                raise DataError(
                    f"The images of feature {name!r} have different shapes {sorted(shapes)} "
                    "after config.data.ops, so they cannot form a batch. Add ops that give one "
                    "shape, e.g. 'rgb' (or 'alpha_white') and 'resize:H,W' (see gendl/data/ops.py)."
                )
            stacked = np.stack([e[name] for e in examples])
            batch[name] = stacked.reshape(*indices.shape, *stacked.shape[1:])
        return batch

    def _example(self, i: int, rng) -> dict:
        example = ops_lib.apply(self._random_ops, dict(self._fixed(i)), rng)
        if self.labels is not None:
            example["label"] = self.labels[i]
        return example

    def _fixed(self, i: int) -> dict:
        """File i's images after the ops that draw no random numbers, from memory when kept."""
        if i in self._cache:
            return self._cache[i]
        images = {}
        for name, path in self.files[i].items():
            images.update(_cut(decode(path), name, self.side_by_side, path))
        images = ops_lib.apply(self._fixed_ops, images, None)
        size = sum(v.nbytes for v in images.values())
        if size <= self._cache_left:
            for v in images.values():
                v.setflags(write=False)  # a random op that wrote in place would corrupt it
            self._cache[i] = images
            self._cache_left -= size
        return images

    def _spec(self) -> DataSpec:
        first = self.read(np.zeros(1, np.int64), np.random.default_rng(0))
        features = {k: Feature(tuple(v.shape[1:]), str(v.dtype)) for k, v in first.items()}
        return DataSpec(features, len(self), len(self.class_names))


def _split_roots(folders: dict, split: str) -> tuple:
    """({feature: folder to read}, whether those are the folders' own `split` sub-folders)."""
    roots = {name: pathlib.Path(path).expanduser() for name, path in folders.items()}
    for root in roots.values():
        _check_folder(root)
    if all((root / split).is_dir() for root in roots.values()):
        return {name: root / split for name, root in roots.items()}, True
    if split not in SPLITS:
        raise DataError(
            f"Unknown split {split!r} of the image folder(s) {_listed(roots)}: they have no "
            f"sub-folder {split!r}, and the hash split only knows {SPLITS}. Use one of those."
        )
    return roots, False


def decode(path: pathlib.Path) -> np.ndarray:
    """uint8 [H, W, C] with C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)."""
    try:
        with Image.open(path) as im:
            x = np.asarray(im.convert(_target_mode(im)), np.uint8)
    # Pillow reports unreadable files as any of these (truncated data, bad headers, bombs).
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as err:
        raise DataError(
            f"The file {path} is not a readable image ({err}). Delete it or replace it with a "
            "good PNG or JPEG file: gendl reads every file of an image folder as an image."
        ) from err
    return x[..., None] if x.ndim == 2 else x


def _target_mode(im: Image.Image) -> str:
    has_alpha = "A" in im.getbands() or "transparency" in im.info
    if im.mode in _GREY_MODES or im.mode == "LA":
        return "LA" if has_alpha else "L"
    return "RGBA" if has_alpha else "RGB"


def _cut(x: np.ndarray, name: str, parts: tuple, path) -> dict:
    """{name: x}, or x cut into len(parts) side-by-side images named by `parts`."""
    if not parts:
        return {name: x}
    width = x.shape[1] // len(parts)
    if width * len(parts) != x.shape[1]:
        raise DataError(
            f"The image {path} is {x.shape[1]} pixels wide, which does not split into "
            f"{len(parts)} equal side-by-side parts {parts}. Fix or remove the file, or change "
            "config.data.side_by_side."
        )
    return {part: x[:, k * width : (k + 1) * width] for k, part in enumerate(parts)}


def _check_folder(root: pathlib.Path) -> None:
    if not root.is_dir():
        raise DataError(
            f"The image folder {root} does not exist (or is not a folder). Check "
            "config.data.path / config.data.paths (relative paths start from the working "
            "directory), or create it and put PNG or JPEG images in it."
        )


def _image_names(root: pathlib.Path, sub: pathlib.Path = pathlib.Path()) -> list:
    """Sorted relative names of the (non-hidden) files of root/sub; any non-image -> DataError."""
    names = []
    for entry in sorted(os.scandir(root / sub), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if not entry.name.lower().endswith(IMAGE_EXTENSIONS):
            raise DataError(
                f"The file {root / sub / entry.name} in an image folder is not an image (gendl "
                f"reads {', '.join(IMAGE_EXTENSIONS)}). Delete it or move it out of the folder."
            )
        names.append((sub / entry.name).as_posix())
    return names


def _class_folders(root: pathlib.Path) -> tuple:
    names = tuple(sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name[0] != "."))
    if not names:
        raise DataError(
            f"The image folder {root} holds neither images nor class sub-folders. Put PNG or "
            "JPEG files in it, or one sub-folder of images per class."
        )
    return names


def _class_entries(roots: dict, class_names: tuple) -> list:
    """(key, {feature: file}, label) of every image of the class sub-folders of the one root."""
    ((feature, root),) = roots.items()
    entries = []
    for label, class_name in enumerate(class_names):
        for rel in _image_names(root, pathlib.Path(class_name)):
            entries.append((_key(rel), {feature: root / rel}, label))
    return entries


def _folder_label_entries(roots: dict) -> list:
    """(key, {"image": file}, index of its folder) of every image of every root."""
    return [
        (_key(rel), {"image": root / rel}, label)
        for label, root in enumerate(roots.values())
        for rel in _image_names(root)
    ]


def _paired_entries(roots: dict) -> list:
    """(key, {feature: file}, None) for every name present in all folders, sorted by key."""
    by_key = {
        name: {_key(rel): root / rel for rel in _image_names(root)} for name, root in roots.items()
    }
    common = set.intersection(*(set(files) for files in by_key.values()))
    return [(k, {name: by_key[name][k] for name in roots}, None) for k in sorted(common)]


def has_images(root: pathlib.Path) -> bool:
    """Whether `root` holds image files itself (a flat folder) rather than class sub-folders."""
    return any(e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS) for e in os.scandir(root))


def _key(relative_name: str) -> str:
    return os.path.splitext(relative_name)[0]


def _listed(roots: dict) -> str:
    return ", ".join(str(root) for root in roots.values())
