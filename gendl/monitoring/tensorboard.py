"""TensorBoard event-file writer that needs neither TensorFlow nor the protobuf runtime.

An event file is a TFRecord stream of serialized `tensorflow.Event` protos. We only ever emit
the handful of fields below, so encoding them by hand (varints and length-delimited fields)
is a few lines and keeps TensorFlow out of the training image:

    Event         {double wall_time = 1; int64 step = 2; string file_version = 3;
                   Summary summary = 5; SessionLog session_log = 7;}
    SessionLog    {SessionStatus status = 1;}  // START = 1
    Summary       {repeated Value value = 1;}
    Summary.Value {string tag = 1; float simple_value = 2; Image image = 4;}
    Summary.Image {int32 height = 1; int32 width = 2; int32 colorspace = 3;
                   bytes encoded_image_string = 4;}
"""

import itertools
import os
import socket
import struct
import time
from collections.abc import Callable, Mapping
from typing import BinaryIO

import numpy as np

from gendl.monitoring import images as images_lib

# --- CRC32C (Castagnoli), as required by TFRecord framing --------------------------------------


def _make_crc32c_table() -> tuple[int, ...]:
    poly = 0x82F63B78  # reflected Castagnoli polynomial
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()


def _crc32c_python(data: bytes) -> int:
    # Byte-at-a-time table lookup: slow per byte, but event records are small (scalars are
    # tens of bytes; a sample grid PNG is a few hundred KB logged rarely).
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _native_crc32c() -> Callable[[bytes], int] | None:
    # Use a compiled implementation when one happens to be installed; neither is a dependency.
    try:
        import google_crc32c  # type: ignore[import-not-found]

        return lambda data: google_crc32c.value(bytes(data))
    except ImportError:
        pass
    try:
        import crc32c as crc32c_mod  # type: ignore[import-not-found]

        return crc32c_mod.crc32c
    except ImportError:
        return None


crc32c: Callable[[bytes], int] = _native_crc32c() or _crc32c_python


def masked_crc32c(data: bytes) -> int:
    """CRC32C masked as TFRecord does, so CRCs of CRC-bearing data don't look like CRCs."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """Frames one record: length, masked CRC of length, data, masked CRC of data."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# --- Minimal protobuf wire encoding ------------------------------------------------------------

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def _varint(value: int) -> bytes:
    # Negative int32/int64 values are encoded as their 64-bit two's complement (10 bytes).
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _int_field(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + _varint(int(value))


def _bytes_field(field: int, value: bytes) -> bytes:
    return _key(field, _LENGTH_DELIMITED) + _varint(len(value)) + value


def _double_field(field: int, value: float) -> bytes:
    return _key(field, _FIXED64) + struct.pack("<d", value)


def _float_field(field: int, value: float) -> bytes:
    # struct raises OverflowError beyond float32 range; a diverging loss must still be logged
    # (as +-inf, which is what float32 rounding gives) rather than crash the training loop.
    with np.errstate(over="ignore"):
        value = float(np.float32(value))
    return _key(field, _FIXED32) + struct.pack("<f", value)


_SESSION_START = 1


def _event(
    wall_time: float,
    step: int = 0,
    *,
    file_version: str = "",
    summary: bytes = b"",
    session_log: bytes = b"",
) -> bytes:
    out = _double_field(1, wall_time) + _int_field(2, step)
    if file_version:
        out += _bytes_field(3, file_version.encode())
    if summary:
        out += _bytes_field(5, summary)
    if session_log:
        out += _bytes_field(7, session_log)
    return out


def _scalar_value(tag: str, value: float) -> bytes:
    return _bytes_field(1, tag.encode()) + _float_field(2, value)


def _image_value(tag: str, image: np.ndarray) -> bytes:
    h, w, c = image.shape
    img = (
        _int_field(1, h)
        + _int_field(2, w)
        + _int_field(3, c)  # colorspace: 1 = grayscale, 3 = RGB (matches channel count)
        + _bytes_field(4, images_lib.encode_png(image))
    )
    return _bytes_field(1, tag.encode()) + _bytes_field(4, img)


def _summary(values: list[bytes]) -> bytes:
    return b"".join(_bytes_field(1, v) for v in values)


# --- Writer ------------------------------------------------------------------------------------


def _create_event_file(logdir: str, now: float) -> tuple[str, BinaryIO]:
    # TensorBoard's naming convention, events.out.tfevents.<time>.<host>, plus pid and a
    # counter so that writers started in the same second (a fast restart, or two writers in
    # one process) never share a file. "xb" makes the uniqueness check race-free.
    prefix = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}"
    for index in itertools.count():
        path = os.path.join(logdir, f"{prefix}.{index}")
        try:
            return path, open(path, "xb")  # returned open: the writer owns and closes it
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


class SummaryWriter:
    """Appends scalar and image summaries to a TensorBoard event file under `logdir`.

    `purge_step`: the first step this writer will log (0 for a fresh run, K + 1 when resuming
    from a checkpoint at step K). It is written as a SessionLog.START event, on which
    TensorBoard discards events with step >= purge_step from earlier files of this logdir
    (written by a run that died after its last checkpoint), so re-logged steps do not show up
    twice. TensorBoard's current loader ignores the *first* START of a logdir (it marks the
    initial session), so for resume purging to work every incarnation of a run, the first one
    included, must pass a purge_step; `RunWriters` does. Leave it None for writers that add to
    a logdir without restarting it.

    Records are buffered in memory and written on `flush()`, `close()`, or when a write finds
    more than `flush_every_seconds` elapsed since the last flush, so a fast training loop does
    not pay a syscall per scalar while a crashed run loses at most that much.
    """

    def __init__(
        self,
        logdir: str,
        *,
        purge_step: int | None = None,
        flush_every_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ):
        os.makedirs(logdir, exist_ok=True)
        self._clock = clock
        self._flush_every = flush_every_seconds
        now = clock()
        path, file = _create_event_file(logdir, now)
        self.path = path
        self._file: BinaryIO | None = file
        self._buffer: list[bytes] = []
        self._last_flush = now
        # TensorBoard identifies the format from this first record.
        self._write(_event(now, file_version="brain.Event:2"))
        if purge_step is not None:
            session_start = _int_field(1, _SESSION_START)
            self._write(_event(now, step=int(purge_step), session_log=session_start))
        self.flush()

    def _write(self, event: bytes) -> None:
        if self._file is None:
            raise ValueError("SummaryWriter is closed")
        self._buffer.append(tfrecord(event))
        if self._clock() - self._last_flush >= self._flush_every:
            self.flush()

    def _write_summary(self, step: int, values: list[bytes]) -> None:
        if values:
            self._write(_event(self._clock(), step=int(step), summary=_summary(values)))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._write_summary(step, [_scalar_value(tag, float(value))])

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        # One event for all scalars of a step: less framing overhead than one event per tag.
        self._write_summary(step, [_scalar_value(k, float(v)) for k, v in values.items()])

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """Logs a uint8 image [H, W, C] (C = 1 or 3) or [H, W] as a PNG summary."""
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., None]
        self._write_summary(step, [_image_value(tag, image)])

    def flush(self) -> None:
        if self._file is None:
            return
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer.clear()
        self._file.flush()
        self._last_flush = self._clock()

    def close(self) -> None:
        if self._file is None:
            return
        self.flush()
        self._file.close()
        self._file = None

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
