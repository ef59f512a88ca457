"""Read a PyTorch state dict written by `torch.save` into numpy arrays, without torch.

Both formats torch.save has written are read:
  * zip (torch >= 1.6): `<archive>/data.pkl` pickles the dict; each tensor's storage is the
    raw little-endian bytes of `<archive>/data/<key>`.
  * legacy (torch < 1.6, or `_use_new_zipfile_serialization=False`): consecutive pickles of a
    magic number, a protocol version, system info, the dict, and the list of storage keys,
    followed by each storage as an int64 element count and its raw bytes.

The unpickler is restricted: it builds only OrderedDicts, storages and tensors (the globals a
state dict of tensors refers to) and refuses any other global, so reading a file runs none of
its code.
"""

import collections
import os
import pickle
import struct
import zipfile

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointFormatError(ValueError):
    """The file is not a PyTorch state dict of tensors this reader understands."""


class _StorageType:
    def __init__(self, name):
        if name not in _STORAGE_DTYPES:
            raise CheckpointFormatError(
                f"Unsupported tensor storage torch.{name}; supported: {sorted(_STORAGE_DTYPES)}."
            )
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _StorageRef:
    """A storage named by the pickle; its bytes are read after unpickling."""

    def __init__(self, dtype, key, numel, offset=0):
        self.dtype, self.key, self.numel, self.offset = dtype, key, int(numel), int(offset)


class _TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *_):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    """torch < 0.4 pickled tensors through this (torchvision's 2017 weights, e.g. VGG's)."""
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *_):
    return data  # an nn.Parameter is its tensor for our purposes


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, legacy: bool):
        super().__init__(file)
        self.legacy = legacy

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        # Storages saved from a GPU name torch.cuda's types; their bytes are the same.
        if module in ("torch", "torch.cuda") and name.endswith("Storage"):
            return _StorageType(name)
        raise CheckpointFormatError(
            f"The file refers to {module}.{name}, which a state dict of tensors does not: it "
            f"is not a plain `torch.save(model.state_dict(), path)` file. Save the state dict "
            f"alone, or use the weights file this loader documents."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage")):
            raise CheckpointFormatError(f"Unknown persistent id {pid!r} in the pickle.")
        if self.legacy:  # ('storage', type, root_key, location, numel, view_metadata)
            _, storage_type, key, _, numel, view = pid
            if view is not None:  # a view into a larger root storage
                _, offset, view_numel = view
                return _StorageRef(storage_type.dtype, str(key), view_numel, offset)
            return _StorageRef(storage_type.dtype, str(key), numel)
        _, storage_type, key, _, numel = pid[:5]  # ('storage', type, key, location, numel)
        return _StorageRef(storage_type.dtype, str(key), numel)


def _materialise(name, tensor, buffers):
    s = tensor.storage
    buf = buffers[s.key]
    flat = np.frombuffer(buf, dtype=s.dtype.newbyteorder("<"))
    flat = flat[s.offset : s.offset + s.numel]
    if len(flat) < s.numel:
        raise CheckpointFormatError(
            f"Tensor {name!r}: its storage holds {len(flat)} elements, the pickle says "
            f"{s.numel}. The file is truncated or corrupt; download it again."
        )
    if len(tensor.size) != len(tensor.stride):
        raise CheckpointFormatError(f"Tensor {name!r}: size and stride differ in length.")
    if any(n == 0 for n in tensor.size):
        return np.zeros(tensor.size, s.dtype)
    last = tensor.offset + sum(
        (n - 1) * st for n, st in zip(tensor.size, tensor.stride, strict=True)
    )
    if tensor.offset < 0 or min(tensor.stride, default=0) < 0 or last >= s.numel:
        raise CheckpointFormatError(
            f"Tensor {name!r} (size {tensor.size}, stride {tensor.stride}, offset "
            f"{tensor.offset}) reaches outside its storage of {s.numel} elements."
        )
    view = np.lib.stride_tricks.as_strided(
        flat[tensor.offset :],
        shape=tensor.size,
        strides=tuple(st * s.dtype.itemsize for st in tensor.stride),
        writeable=False,
    )
    return np.array(view, dtype=s.dtype.newbyteorder("="))


def _flat_tensors(obj, path):
    if not isinstance(obj, dict) or not all(isinstance(v, _TensorRef) for v in obj.values()):
        raise CheckpointFormatError(
            f"{path} does not hold a flat dict of tensor name -> tensor (a model's "
            f"state_dict()); got {type(obj).__name__}."
        )
    return obj


def _read_zip(path, keep):
    with zipfile.ZipFile(path) as z:
        pickles = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise CheckpointFormatError(f"{path} is a zip file but not a torch.save archive.")
        prefix = pickles[0][: -len("data.pkl")]
        if prefix + "byteorder" in z.namelist() and z.read(prefix + "byteorder") != b"little":
            raise CheckpointFormatError(f"{path} was written big-endian; unsupported.")
        with z.open(pickles[0]) as f:
            tensors = _flat_tensors(_Unpickler(f, legacy=False).load(), path)
        tensors = {name: t for name, t in tensors.items() if keep(name)}
        keys = {t.storage.key for t in tensors.values()}
        buffers = {}
        for k in keys:
            try:
                buffers[k] = z.read(f"{prefix}data/{k}")
            except KeyError:
                raise CheckpointFormatError(
                    f"{path} lacks the storage {prefix}data/{k}; the file is corrupt."
                ) from None
    return tensors, buffers


def _read_legacy(path, keep):
    with open(path, "rb") as f:
        try:
            magic = _Unpickler(f, legacy=True).load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise CheckpointFormatError(
                f"{path} is neither a zip nor a legacy torch.save file ({e})."
            ) from None
        if magic != _LEGACY_MAGIC:
            raise CheckpointFormatError(f"{path} is neither a zip nor a legacy torch.save file.")
        _Unpickler(f, legacy=True).load()  # protocol version
        sys_info = _Unpickler(f, legacy=True).load()
        if not sys_info.get("little_endian", True):
            raise CheckpointFormatError(f"{path} was written big-endian; unsupported.")
        tensors = _flat_tensors(_Unpickler(f, legacy=True).load(), path)
        keys = _Unpickler(f, legacy=True).load()
        itemsize = {}
        for t in tensors.values():
            itemsize[t.storage.key] = t.storage.dtype.itemsize
        tensors = {name: t for name, t in tensors.items() if keep(name)}
        wanted = {t.storage.key for t in tensors.values()}
        size = os.fstat(f.fileno()).st_size
        buffers = {}
        for k in keys:
            header = f.read(8)
            if len(header) != 8:
                raise CheckpointFormatError(f"{path} is truncated; download it again.")
            (numel,) = struct.unpack("<q", header)
            nbytes = numel * itemsize.get(str(k), 1)
            if str(k) in wanted:
                buffers[str(k)] = f.read(nbytes)
                complete = len(buffers[str(k)]) == nbytes
            else:  # skipped unread: a classifier a feature network does not use, say
                complete = f.seek(nbytes, os.SEEK_CUR) <= size
            if not complete:
                raise CheckpointFormatError(f"{path} is truncated; download it again.")
    return tensors, buffers


def read_state_dict(path, keep=lambda name: True) -> dict[str, np.ndarray]:
    """{tensor name: numpy array} of a `torch.save(state_dict, path)` file, in file order,
    for the names `keep` accepts; the others' bytes are never read (a feature network's
    file may hold a classifier several times the size of the layers it uses)."""
    reader = _read_zip if zipfile.is_zipfile(path) else _read_legacy
    tensors, buffers = reader(path, keep)
    return {name: _materialise(name, t, buffers) for name, t in tensors.items()}
