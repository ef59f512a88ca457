"""TFDS builders that prepare gendl's datasets from their original distribution files.

The catalog builders (``tfds.builder("mnist")``...) store images with ``tfds.features.Image``,
whose encoder needs TensorFlow. These builders store plain ``tfds.features.Tensor`` features
instead, which TFDS writes and reads (array_record) without TensorFlow. They reuse the catalog
names but are never registered, and gendl prepares them under their own data dir, so they cannot
collide with a user's catalog datasets.

Each builder takes the original files from ``<manual_dir>/<name>/`` when that folder holds any
file, and otherwise downloads them from the dataset's canonical URL.
"""

import contextlib
import hashlib
import logging
import os
import pathlib
import pickle
import socket
import tarfile
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from gendl.data import idx
from gendl.data.errors import DataError, corrupt_file_error

_NUM_CLASSES = 10

_MNIST_CITATION = """\
@article{lecun2010mnist,
  title={MNIST handwritten digit database},
  author={LeCun, Yann and Cortes, Corinna and Burges, CJ},
  journal={ATT Labs [Online]. Available: http://yann.lecun.com/exdb/mnist},
  volume={2},
  year={2010}
}"""

_FASHION_MNIST_CITATION = """\
@article{xiao2017fashion,
  title={Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms},
  author={Xiao, Han and Rasul, Kashif and Vollgraf, Roland},
  journal={arXiv preprint arXiv:1708.07747},
  year={2017}
}"""

_CIFAR_CITATION = """\
@techreport{krizhevsky2009learning,
  title={Learning Multiple Layers of Features from Tiny Images},
  author={Krizhevsky, Alex},
  institution={University of Toronto},
  year={2009}
}"""


# MD5 of the original distribution files as their publishers give them: MNIST's as used by
# torchvision and TFDS for the files of LeCun's site; Fashion-MNIST's from the table in
# zalandoresearch/fashion-mnist's README; CIFAR-10's from www.cs.toronto.edu/~kriz/cifar.html.
PUBLISHED_MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
}
_PRETTY = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
# Files in the originals' format that are not the originals (a subset, test fixtures, one's own
# data) are accepted only when listed here, in the dataset's manual folder, with their SHA-256
# as `sha256sum` prints them: a deliberate act, so that a damaged or mixed-up original can never
# pass for one by accident.
UNOFFICIAL_LIST = "gendl-unofficial-sha256.txt"


class DownloadFailedError(DataError):
    """The original files were not in the manual dir and downloading them failed.

    ``gendl.data.source`` turns this into a DataNotFoundError that also says where the user's
    manual dir pointed; the download's own exception is the ``__cause__``.
    """


class OriginalFilesBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Finds the original files in ``<manual_dir>/<name>/`` or downloads them."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Prepared by gendl from original files."}
    # TFDS only exposes `dl_manager.manual_dir` to builders that set instructions.
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Optional: put the original files in `<manual_dir>/<name>/` "
        "(see `file_names()`); otherwise they are downloaded."
    )
    # Key -> canonical URL of one original file; the file keeps the URL's base name.
    URLS: ClassVar[dict[str, str]]
    # TFDS 4.9.10 infers this path through `importlib_resources`, which it only declares as a
    # dependency for Python < 3.9 (tensorflow/datasets#11212), so preparing fails with
    # ModuleNotFoundError without it. This is the value it would infer.
    code_path: ClassVar[epath.Path] = epath.Path(__file__)

    @classmethod
    def file_names(cls) -> dict[str, str]:
        """Key -> name of the original file, as expected in ``<manual_dir>/<name>/``."""
        return {key: url.rsplit("/", 1)[-1] for key, url in cls.URLS.items()}

    def _original_files(self, dl_manager: tfds.download.DownloadManager) -> dict[str, str]:
        """Key -> local path of each original file, from the manual dir or downloaded, each
        verified against its published checksum (see `verify_originals`)."""
        paths = self._find_original_files(dl_manager)
        # Kept for the prepared data's record of its sources (gendl.data.source).
        self.verified_sources = verify_originals(self.name, paths.values())
        return paths

    def _find_original_files(self, dl_manager: tfds.download.DownloadManager) -> dict[str, str]:
        folder = self._manual_folder(dl_manager)
        if folder is not None:
            return self._manual_files(folder)
        _check_hosts_resolve(self.URLS.values())
        try:
            with _quiet_retries():
                paths = dl_manager.download(self.URLS)
        # Network failures arrive as many types (requests, DownloadError, checksum errors);
        # all mean the same to the user and are kept as the cause.
        except Exception as err:
            raise DownloadFailedError(str(err)) from err
        return {key: os.fspath(path) for key, path in paths.items()}

    def _manual_folder(self, dl_manager: tfds.download.DownloadManager) -> pathlib.Path | None:
        try:
            root = dl_manager.manual_dir
        except AssertionError:  # TFDS's way of saying the manual dir is missing or empty.
            return None
        folder = pathlib.Path(os.fspath(root)) / self.name
        if not folder.is_dir() or not any(folder.iterdir()):
            return None
        return folder

    def _manual_files(self, folder: pathlib.Path) -> dict[str, str]:
        paths = {key: folder / name for key, name in self.file_names().items()}
        missing = sorted(path.name for path in paths.values() if not path.is_file())
        if missing:
            raise DataError(
                f"The folder {folder} holds only some of the original {self.name} files: "
                f"{', '.join(missing)} missing. Copy the missing files there, or remove the "
                "folder to let TFDS download all of them."
            )
        return {key: os.fspath(path) for key, path in paths.items()}


def file_hashes(path: str | os.PathLike) -> tuple[str, str]:
    """(md5, sha256) hex digests of a file, read once."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def verify_originals(name: str, paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """Checks each file against the published MD5 of ``name``'s original of that file name;
    returns file name -> SHA-256 (what the prepared data records). Raises DataError when a
    file is another dataset's original, or neither the original nor listed in its folder's
    UNOFFICIAL_LIST with its exact SHA-256."""
    hashes = {}
    for path in paths:
        path = pathlib.Path(path)
        md5, sha256 = file_hashes(path)
        hashes[path.name] = sha256
        published = PUBLISHED_MD5.get(name, {}).get(path.name)
        if published is None or md5 == published:
            continue
        other = next(
            (n for n, files in PUBLISHED_MD5.items() if files.get(path.name) == md5 and n != name),
            None,
        )
        if other is not None:
            raise DataError(
                f"The file {path} is {_PRETTY[other]}'s original {path.name}, not "
                f"{_PRETTY.get(name, name)}'s: the folder {path.parent} must hold the "
                f"{_PRETTY.get(name, name)} files. Put {_PRETTY[other]}'s files in a folder "
                f"named {other}/ beside it, and {_PRETTY.get(name, name)}'s in {name}/ (or "
                f"set --config.data.name={other} if {other} is what you meant to train on)."
            )
        listed = _unofficial_list(path.parent)
        if listed.get(path.name) == sha256:
            continue
        if path.name in listed:
            raise corrupt_file_error(
                path,
                f"its SHA-256 is {sha256}, but {path.parent / UNOFFICIAL_LIST} lists "
                f"{listed[path.name]} for it (it changed since it was listed)",
            )
        raise corrupt_file_error(
            path,
            f"it is not the original {_PRETTY.get(name, name)} file {path.name} (its MD5 is "
            f"{md5}, the published one is {published}: a damaged or partial download, or "
            f"another file under that name). To use files of your own in this format "
            f"instead, list their SHA-256 in {path.parent / UNOFFICIAL_LIST}, as `sha256sum` "
            "prints them",
        )
    return hashes


def _unofficial_list(folder: pathlib.Path) -> dict[str, str]:
    """File name -> SHA-256 from the folder's UNOFFICIAL_LIST (`sha256sum` output), if any."""
    try:
        text = (folder / UNOFFICIAL_LIST).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    listed = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            listed[parts[1].lstrip("*")] = parts[0].lower()
    return listed


def _check_hosts_resolve(urls: Iterable[str]) -> None:
    """Fails fast when the download hosts cannot be resolved (typically: no internet).

    Otherwise TFDS retries each file with exponential backoff, about 3.5 minutes, before it
    gives up. Behind a proxy the proxy resolves the hosts, so there is nothing to check.
    """
    proxies = urllib.request.getproxies()
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if proxies.get(parts.scheme):
            continue
        try:
            socket.getaddrinfo(parts.hostname, parts.port or parts.scheme)
        except OSError as err:  # socket.gaierror
            raise DownloadFailedError(f"cannot resolve the host {parts.hostname} ({err})") from err


@contextlib.contextmanager
def _quiet_retries() -> Iterator[None]:
    """Hides urllib3's warning per retry of each file while TFDS downloads (dozens of lines when
    offline); a failure still surfaces as the DataNotFoundError naming its cause."""
    logger = logging.getLogger("urllib3.connectionpool")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _idx_urls(base_url: str) -> dict[str, str]:
    """Key -> URL of the four (Fashion-)MNIST files, which share names across mirrors."""
    names = {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    return {key: base_url + name for key, name in names.items()}


class _IdxBuilder(OriginalFilesBuilder, skip_registration=True):
    """(Fashion-)MNIST: four gzip IDX files, 28x28 grayscale images, 10 classes."""

    _DESCRIPTION: ClassVar[str]
    _HOMEPAGE: ClassVar[str]
    _CITATION: ClassVar[str]

    def _info(self) -> tfds.core.DatasetInfo:
        return _image_info(self, (28, 28, 1), self._DESCRIPTION, self._HOMEPAGE, self._CITATION)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        files = self._original_files(dl_manager)
        return {
            split: self._generate_examples(files[f"{split}_images"], files[f"{split}_labels"])
            for split in ("train", "test")
        }

    def _generate_examples(self, images_path: str, labels_path: str) -> Iterator[tuple[int, dict]]:
        images = idx.read_idx(images_path, ndim=3)
        labels = idx.read_idx(labels_path, ndim=1)
        if images.shape[1:] != (28, 28):
            raise corrupt_file_error(images_path, f"its images are {images.shape[1:]}, not 28x28")
        if len(labels) != len(images):
            raise corrupt_file_error(
                labels_path, f"it holds {len(labels)} labels for {len(images)} images"
            )
        _check_labels(labels, labels_path)
        yield from _examples(images[..., None], labels)


class MnistBuilder(_IdxBuilder, skip_registration=True):
    name = "mnist"
    # The mirror TFDS's own mnist builder downloads from.
    URLS: ClassVar[dict[str, str]] = _idx_urls(
        "https://storage.googleapis.com/cvdf-datasets/mnist/"
    )
    _DESCRIPTION = "The MNIST database of handwritten digits."
    _HOMEPAGE = "http://yann.lecun.com/exdb/mnist/"
    _CITATION = _MNIST_CITATION


class FashionMnistBuilder(_IdxBuilder, skip_registration=True):
    name = "fashion_mnist"
    URLS: ClassVar[dict[str, str]] = _idx_urls(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    )
    _DESCRIPTION = "Fashion-MNIST: 28x28 grayscale images of Zalando articles in 10 classes."
    _HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
    _CITATION = _FASHION_MNIST_CITATION


class Cifar10Builder(OriginalFilesBuilder, skip_registration=True):
    """CIFAR-10 from the python-version archive: pickled batches of 10000 CHW images."""

    name = "cifar10"
    URLS: ClassVar[dict[str, str]] = {
        "archive": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    }
    _SPLIT_BATCHES: ClassVar[dict[str, tuple[str, ...]]] = {
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return _image_info(
            self,
            (32, 32, 3),
            "CIFAR-10: 60000 32x32 colour images in 10 classes (50000 train, 10000 test).",
            "https://www.cs.toronto.edu/~kriz/cifar.html",
            _CIFAR_CITATION,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        archive = self._original_files(dl_manager)["archive"]
        return {
            split: self._generate_examples(archive, batches)
            for split, batches in self._SPLIT_BATCHES.items()
        }

    def _generate_examples(
        self, archive: str, batch_names: tuple[str, ...]
    ) -> Iterator[tuple[int, dict]]:
        batches = _read_cifar_batches(archive, batch_names)
        images = np.concatenate([batches[name][0] for name in batch_names])
        labels = np.concatenate([batches[name][1] for name in batch_names])
        yield from _examples(images, labels)


DATASETS: dict[str, type[OriginalFilesBuilder]] = {
    cls.name: cls for cls in (MnistBuilder, FashionMnistBuilder, Cifar10Builder)
}


def _image_info(
    builder: tfds.core.DatasetBuilder,
    shape: tuple[int, int, int],
    description: str,
    homepage: str,
    citation: str,
) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=builder,
        description=description,
        features=tfds.features.FeaturesDict(
            {
                "image": tfds.features.Tensor(shape=shape, dtype=np.uint8),
                "label": tfds.features.Tensor(shape=(), dtype=np.int64),
            }
        ),
        supervised_keys=("image", "label"),
        homepage=homepage,
        citation=citation,
        # Store examples in the original files' order: the stored order then does not depend
        # on TFDS's key hashing, and gendl's sampler does the shuffling.
        disable_shuffling=True,
    )


def _examples(images: np.ndarray, labels: np.ndarray) -> Iterator[tuple[int, dict]]:
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        yield i, {"image": image, "label": int(label)}


def _check_labels(labels: np.ndarray, path: str) -> None:
    if len(labels) and int(labels.max()) >= _NUM_CLASSES:
        raise corrupt_file_error(path, f"it has label {int(labels.max())}, outside 0-9")


def _read_cifar_batches(
    archive: str, batch_names: Iterable[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Batch name -> (uint8 images [N,32,32,3], labels [N]) for the named archive members."""
    wanted = {f"cifar-10-batches-py/{name}": name for name in batch_names}
    batches = {}
    try:
        # Plain tarfile: TFDS's `dl_manager.iter_archive` opens paths via tf.io.gfile, which
        # needs TensorFlow.
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted:
                    name = wanted[member.name]
                    batches[name] = _parse_cifar_batch(tar.extractfile(member), archive, name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise corrupt_file_error(archive, f"it is not a readable .tar.gz archive ({err})") from err
    missing = sorted(set(wanted) - {f"cifar-10-batches-py/{name}" for name in batches})
    if missing:
        raise corrupt_file_error(archive, f"it lacks {', '.join(missing)}")
    return batches


def _parse_cifar_batch(fobj: Any, archive: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        # The batches were pickled by Python 2: byte strings must stay bytes (b"data").
        batch = _NumpyOnlyUnpickler(fobj, encoding="bytes").load()
        data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise corrupt_file_error(
            archive, f"its member {name} is not a CIFAR batch ({err})"
        ) from err
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2):
        raise corrupt_file_error(archive, f"{name}[b'data'] is not a 2-D uint8 array")
    if data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise corrupt_file_error(
            archive, f"{name} has data {data.shape} and {len(labels)} labels, not (N, 3072) and N"
        )
    _check_labels(labels, f"{archive} ({name})")
    # Rows are CHW (1024 red, then green, then blue values); the model wants HWC.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR batch holds, since unpickling can run arbitrary code."""

    _ALLOWED: ClassVar[dict[tuple[str, str], tuple[str, str]]] = {
        # numpy 2 renamed numpy.core to numpy._core and warns on the old name.
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        # How Python 3 pickles bytes under protocol 2 (pure data conversion).
        ("_codecs", "encode"): ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(*self._ALLOWED[(module, name)])
