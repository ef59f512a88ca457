"""A user's pretrained-weights file read into numpy arrays, without the framework that wrote it.

Two kinds of file, told apart by their first bytes (not their names):
  * `torch.save` of a state dict (zip archive, or the pre-1.6 format torchvision's older
    weights use), read by the restricted unpickler of third_party/inception/torch_checkpoint.py:
    it builds only dicts, storages and tensors and refuses every other global, so opening a
    file runs none of its code;
  * Keras's HDF5 weight files (`model.save_weights(...h5)`, keras.applications' downloads):
    read with h5py, an optional extra (`pip install 'gendl[h5]'`) imported only when such a
    file is given.

Every problem with the file is a DataError of one paragraph naming the file.
"""

import hashlib
import os
import pickle
import re
import struct
import zipfile

import numpy as np

from gendl.data.errors import DataError
from third_party.inception import torch_checkpoint

TORCH = "torch"
KERAS_H5 = "keras_h5"

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"  # torch.save's legacy format opens with a pickle (protocol 2)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def file_format(path: str, *, expected: str) -> str:
    """TORCH or KERAS_H5 from the file's first bytes. `expected` names the files that would
    do, for the message when there is no file or it is neither kind."""
    if not os.path.isfile(path):
        raise DataError(f"No weights file at {path}. {expected}")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO):
        return TORCH
    if head == _HDF5_SIGNATURE:
        return KERAS_H5
    raise DataError(
        f"{path} is in no weights format gendl reads: it is neither a torch.save file (a zip "
        f"archive or a pickle) nor an HDF5 file (Keras). {expected}"
    )


def _corrupt(path, reason):
    return DataError(
        f"{path} cannot be read as a weights file: {reason}. The file is truncated or corrupt "
        "(an interrupted download?): delete it and download it again."
    )


def read_torch_state_dict(path: str, keep=lambda name: True) -> dict[str, np.ndarray]:
    """{tensor name: array} of a `torch.save(state_dict)` file, for the names `keep` accepts."""
    with open(path, "rb") as f:
        if f.read(4) == _ZIP_MAGIC and not zipfile.is_zipfile(path):
            raise _corrupt(path, "a zip archive without its closing directory")
    try:
        return torch_checkpoint.read_state_dict(path, keep)
    except torch_checkpoint.CheckpointFormatError as e:
        raise DataError(
            f"{path} cannot be read as a torch.save state dict: {e} If it is a download, it may "
            "be truncated or corrupt: delete it and download it again. gendl reads only "
            "`torch.save(model.state_dict(), path)` files, and never runs code from one."
        ) from None
    except (
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        EOFError,
        struct.error,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
    ) as e:
        # Corrupt archive members (CRC mismatch) and mangled pickles land here.
        raise _corrupt(path, f"{type(e).__name__}: {e}") from None


def _import_h5py(path):
    try:
        import h5py
    except ImportError:
        raise DataError(
            f"{path} is an HDF5 (Keras) weights file, and reading one needs h5py, which is not "
            "installed: `pip install h5py` (or `pip install 'gendl[h5]'`), or use the "
            "torchvision .pth file of the same network instead."
        ) from None
    return h5py


def _string_list_attr(group, name) -> list[str]:
    """A list-of-names attribute as Keras writes it: whole, or in chunks `name0`, `name1`, ...
    when it outgrows HDF5's 64 KiB object header."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks, i = [], 0
        while f"{name}{i}" in group.attrs:
            chunks.append(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for c in chunks for v in c]


def read_keras_weights(path: str, keep=lambda layer: True) -> dict[str, list[np.ndarray]]:
    """{layer name: its weights in Keras's order} of a Keras HDF5 weights file (the layout of
    `save_weights` to .h5 and of keras.applications' files; a whole saved model's
    `model_weights` group too), for the layers `keep` accepts; the others are left unread.
    Layers without weights (inputs, pools) map to []."""
    h5py = _import_h5py(path)
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            layer_names = _string_list_attr(root, "layer_names")
            if not layer_names:
                raise DataError(
                    f"{path} is an HDF5 file without Keras's `layer_names` attribute: not a "
                    "Keras weights file in the .h5 layout of keras.applications' downloads "
                    "and of model.save_weights (Keras 3's `.weights.h5` layout is another)."
                )
            return {
                layer: [
                    np.asarray(root[layer][w])
                    for w in _string_list_attr(root[layer], "weight_names")
                ]
                for layer in layer_names
                if keep(layer)
            }
    except (OSError, KeyError) as e:  # h5py: truncated file, missing object, bad checksum
        raise _corrupt(path, f"{type(e).__name__}: {e}") from None


def _digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_digest(path: str, algorithm: str, expected_prefix: str, source: str):
    """The file's `algorithm` digest starts with `expected_prefix` (from `source`, for the
    message), or a DataError telling the user to download it again."""
    digest = _digest(path, algorithm)
    if not digest.startswith(expected_prefix):
        raise DataError(
            f"{path}: its {algorithm} {digest[:16]}... does not start with {expected_prefix!r}, "
            f"which {source}. The download is incomplete or corrupt (or another file was "
            "given this name): delete it and download it again."
        )


def check_hub_name(path: str):
    """torch.hub's convention: a file named `<name>-<hex>.pth` carries its sha256's prefix."""
    m = re.search(r"-([0-9a-f]{8,64})\.pth?$", os.path.basename(path))
    if m:
        check_digest(path, "sha256", m.group(1), "torch.hub's naming convention promises")
