"""Writers of small fake datasets in the original distribution formats, for tests.

They write the bytes with struct/gzip/tarfile/pickle directly rather than with gendl's readers'
counterparts, so that a test compares gendl against the file format, not against itself.

The files carry the originals' names but not their content, so gendl (which checks original
names against the published checksums) accepts them only because each writer also lists them
in the folder's ``gendl-unofficial-sha256.txt``, as a user with files of their own would.
"""

import gzip
import hashlib
import io
import os
import pathlib
import pickle
import struct
import tarfile

import numpy as np

UNOFFICIAL_LIST = "gendl-unofficial-sha256.txt"  # gendl.data.builders.UNOFFICIAL_LIST

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"


def fake_split(n: int, shape: tuple[int, ...], rng: np.random.Generator):
    """Random (uint8 images [n, *shape], uint8 labels [n] in 0-9)."""
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of a uint8 array: magic 0x0000 08 <ndim>, dims, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_idx_dataset(
    root: str | os.PathLike,
    name: str = "mnist",
    n_train: int = 64,
    n_test: int = 32,
    seed: int = 0,
) -> pathlib.Path:
    """Writes ``<root>/<name>/`` with the four gzip IDX files of a random 28x28 dataset.

    Returns ``root`` (the folder to use as manual dir). The arrays written are
    ``fake_idx_arrays(n_train, n_test, seed)``.
    """
    folder = pathlib.Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in fake_idx_arrays(n_train, n_test, seed).items():
        images_name, labels_name = IDX_FILES[split]
        (folder / images_name).write_bytes(gzip.compress(idx_bytes(images)))
        (folder / labels_name).write_bytes(gzip.compress(idx_bytes(labels)))
    list_unofficial(folder)
    return pathlib.Path(root)


def list_unofficial(folder: str | os.PathLike) -> None:
    """Lists every .gz file of `folder` in its UNOFFICIAL_LIST, `sha256sum` style."""
    folder = pathlib.Path(folder)
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
        for path in sorted(folder.glob("*.gz"))
    ]
    (folder / UNOFFICIAL_LIST).write_text("".join(lines))


def fake_idx_arrays(n_train: int = 64, n_test: int = 32, seed: int = 0) -> dict:
    """Split -> (images uint8 [n, 28, 28], labels uint8 [n]) as `write_idx_dataset` writes."""
    rng = np.random.default_rng(seed)
    return {"train": fake_split(n_train, (28, 28), rng), "test": fake_split(n_test, (28, 28), rng)}


def write_cifar10_archive(
    root: str | os.PathLike, n_per_batch: int = 8, n_test: int = 8, seed: int = 0
) -> tuple[pathlib.Path, dict]:
    """Writes ``<root>/cifar10/cifar-10-python.tar.gz`` in the original python-version layout.

    Returns (root, split -> (uint8 HWC images [n, 32, 32, 3], labels [n])), where train is the
    concatenation of data_batch_1..5.
    """
    rng = np.random.default_rng(seed)
    batches = {f"data_batch_{i}": fake_split(n_per_batch, (32, 32, 3), rng) for i in range(1, 6)}
    batches["test_batch"] = fake_split(n_test, (32, 32, 3), rng)
    folder = pathlib.Path(root) / "cifar10"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / CIFAR10_ARCHIVE, "w:gz") as tar:
        for name, (images, labels) in batches.items():
            _add_member(
                tar, f"cifar-10-batches-py/{name}", _cifar_batch_bytes(name, images, labels)
            )
        _add_member(tar, "cifar-10-batches-py/readme.html", b"<html></html>")
    list_unofficial(folder)
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    expected = {
        "train": (np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])),
        "test": batches["test_batch"],
    }
    return pathlib.Path(root), expected


def _cifar_batch_bytes(name: str, images: np.ndarray, labels: np.ndarray) -> bytes:
    # The originals store each image as one row of 3072 bytes: the red plane, green, then blue.
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3 * 32 * 32)
    batch = {
        b"batch_label": name.encode(),
        b"labels": [int(label) for label in labels],
        b"data": data,
        b"filenames": [f"{i}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(batch, protocol=2)


def _add_member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))
