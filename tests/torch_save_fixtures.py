"""Files in torch.save's formats, written without torch: the pickle is emitted opcode by
opcode with the globals and persistent ids torch.save uses (checked against torch 2.13's
output with pickletools), so the Inception weights loader can be tested where torch is absent.
"""

import pickle
import struct
import zipfile

import numpy as np

_STORAGE = {
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float16): "HalfStorage",
    np.dtype(np.int64): "LongStorage",
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_SYS_INFO = {
    "protocol_version": 1001,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}


class _Emitter:
    """Pickle protocol 2 opcodes, just those a state dict of tensors needs."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")  # PROTO 2

    def global_(self, module, name):
        self.out += b"c" + f"{module}\n{name}\n".encode()

    def str_(self, s):
        b = s.encode()
        self.out += b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE

    def int_(self, n):
        self.out += b"J" + struct.pack("<i", n)  # BININT

    def tuple_of_ints(self, values):
        self.out += b"("  # MARK
        for v in values:
            self.int_(v)
        self.out += b"t"  # TUPLE

    def empty_ordered_dict(self):
        self.global_("collections", "OrderedDict")
        self.out += b")R"  # EMPTY_TUPLE, REDUCE


def _state_dict_pickle(tensors, legacy, torch03_cuda=False):
    e = _Emitter()
    e.empty_ordered_dict()
    e.out += b"("  # MARK for SETITEMS
    for key, (name, a) in enumerate(tensors.items()):
        e.str_(name)
        # torch < 0.4 rebuilt tensors with _rebuild_tensor(storage, offset, size, stride).
        e.global_("torch._utils", "_rebuild_tensor" if torch03_cuda else "_rebuild_tensor_v2")
        e.out += b"(("  # MARK args, MARK persistent id
        e.str_("storage")
        e.global_("torch.cuda" if torch03_cuda else "torch", _STORAGE[a.dtype])
        e.str_(str(key))
        e.str_("cuda:0" if torch03_cuda else "cpu")
        e.int_(a.size)
        if legacy:
            e.out += b"N"  # view_metadata = None
        e.out += b"tQ"  # TUPLE, BINPERSID
        e.int_(0)  # storage offset
        e.tuple_of_ints(a.shape)
        e.tuple_of_ints([s // a.itemsize for s in a.strides])
        if not torch03_cuda:
            e.out += b"\x89"  # requires_grad = False
            e.empty_ordered_dict()  # backward hooks
        e.out += b"tR"  # TUPLE, REDUCE
    e.out += b"u."  # SETITEMS, STOP
    return bytes(e.out)


def write_state_dict(path, tensors, *, legacy=False, torch03_cuda=False):
    """Write {name: numpy array} as torch.save(state_dict) would (zip, or the pre-1.6 format;
    `torch03_cuda`: as torch < 0.4 did from a GPU, in the pre-1.6 format)."""
    tensors = {k: np.asarray(v, order="C") for k, v in tensors.items()}
    data = _state_dict_pickle(tensors, legacy, torch03_cuda)
    if legacy:
        with open(path, "wb") as f:
            for obj in (_LEGACY_MAGIC, 1001, _LEGACY_SYS_INFO):
                f.write(pickle.dumps(obj, protocol=2))
            f.write(data)
            f.write(pickle.dumps([str(k) for k in range(len(tensors))], protocol=2))
            for a in tensors.values():
                f.write(struct.pack("<q", a.size))
                f.write(a.astype(a.dtype.newbyteorder("<")).tobytes())
        return
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/byteorder", "little")
        for key, a in enumerate(tensors.values()):
            z.writestr(f"archive/data/{key}", a.astype(a.dtype.newbyteorder("<")).tobytes())
        z.writestr("archive/version", "3\n")
