"""Reader for gzip-compressed IDX files, the original distribution format of (Fashion-)MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the row-major data. The (Fashion-)MNIST files only use dtype code 0x08
(unsigned byte), so that is all this reader accepts.
"""

import gzip
import os
import struct
import zlib

import numpy as np

from gendl.data.errors import corrupt_file_error

_UBYTE = 0x08


def read_idx(path: str | os.PathLike, *, ndim: int) -> np.ndarray:
    """Reads a ``.gz`` IDX file of unsigned bytes with ``ndim`` dimensions into a uint8 array.

    Raises DataError naming the file when it is not valid gzip, has a wrong magic number or
    its size disagrees with its header (a truncated download looks exactly like this).
    """
    raw = _gunzip(path)
    dims = _parse_header(raw, ndim=ndim, path=path)
    header_size = 4 + 4 * ndim
    expected = header_size + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise corrupt_file_error(
            path,
            f"its header announces shape {tuple(dims)} ({expected} bytes), "
            f"but it holds {len(raw)} bytes",
        )
    return np.frombuffer(raw, np.uint8, offset=header_size).reshape(dims)


def _gunzip(path: str | os.PathLike) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    # BadGzipFile (an OSError) for a wrong gzip header, EOFError for a truncated stream,
    # zlib.error for corrupt compressed data.
    except (OSError, EOFError, zlib.error) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise corrupt_file_error(path, f"it is not a readable gzip file ({err})") from err


def _parse_header(raw: bytes, *, ndim: int, path: str | os.PathLike) -> tuple[int, ...]:
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise corrupt_file_error(
            path, f"it is only {len(raw)} bytes long, shorter than an IDX header"
        )
    zero, dtype_code, file_ndim = struct.unpack_from(">HBB", raw)
    if zero != 0 or dtype_code != _UBYTE or file_ndim != ndim:
        magic = raw[:4].hex()
        want = f"0000{_UBYTE:02x}{ndim:02x}"
        raise corrupt_file_error(path, f"its magic number is 0x{magic}, expected 0x{want}")
    return struct.unpack_from(f">{ndim}I", raw, 4)
