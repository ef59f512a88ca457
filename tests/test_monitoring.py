"""Tests for gendl.monitoring: images/PNG, TensorBoard event files, metrics.jsonl, progress."""

import glob
import json
import math
import os
import struct
import zlib

import numpy as np
import pytest

from gendl.monitoring import images, metrics, progress, tensorboard

# --- helpers -----------------------------------------------------------------------------------


def decode_png(data: bytes) -> np.ndarray:
    """Minimal PNG decoder, independent of the encoder (Pillow): 8-bit grey or RGB, no
    interlace, any of the five row filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + length
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    w, h, depth, colour, compression, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, compression, filt, interlace) == (8, 0, 0, 0)
    channels = {0: 1, 2: 3}[colour]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(h, 1 + w * channels)
    return _unfilter(rows, channels).reshape(h, w, channels)


def _unfilter(rows: np.ndarray, bpp: int) -> np.ndarray:
    """Reverses the PNG row filters (spec section 9.2) on raw rows [h, 1 + width_bytes]."""
    out = np.zeros((rows.shape[0], rows.shape[1] - 1), np.int64)
    for y, row in enumerate(rows):
        kind, data, prev = int(row[0]), row[1:].astype(np.int64), out[y - 1] if y else None
        up = prev if prev is not None else np.zeros_like(data)
        for x in range(len(data)):
            a = out[y, x - bpp] if x >= bpp else 0
            b, c = up[x], (up[x - bpp] if x >= bpp else 0)
            if kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                pred = (0, a, b, (a + b) // 2)[kind] if kind < 4 else 0
            out[y, x] = (data[x] + pred) % 256
    return out.astype(np.uint8)


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


# --- images ------------------------------------------------------------------------------------


def test_make_grid_layout_and_padding():
    imgs = np.zeros((5, 4, 3, 3), np.float32)  # 5 black 4x3 RGB images
    grid = images.make_grid(imgs, pad=2, pad_value=1.0)
    # ncol = ceil(sqrt(5)) = 3, nrow = 2.
    assert grid.dtype == np.uint8
    assert grid.shape == (2 + 2 * (4 + 2), 2 + 3 * (3 + 2), 3)
    assert np.all(grid[:2] == 255) and np.all(grid[:, :2] == 255)  # outer padding
    assert np.all(grid[2:6, 2:5] == 0)  # first tile
    assert np.all(grid[6:8] == 255)  # padding between rows
    assert np.all(grid[8:12, 12:15] == 255)  # empty 6th cell keeps pad_value


def test_make_grid_places_images_row_major():
    imgs = np.arange(6, dtype=np.uint8).reshape(6, 1, 1, 1) * 10
    grid = images.make_grid(imgs, ncol=2, pad=1, pad_value=0.0)
    assert grid.shape == (1 + 3 * 2, 1 + 2 * 2, 1)
    np.testing.assert_array_equal(grid[1::2, 1::2, 0], [[0, 10], [20, 30], [40, 50]])


def test_make_grid_clips_floats():
    grid = images.make_grid(np.array([[[[-0.5]], [[1.5]]]]), pad=0)
    np.testing.assert_array_equal(grid[..., 0], [[0], [255]])


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 1), (7, 5, 3)])
def test_png_roundtrip(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    decoded = decode_png(images.encode_png(image))
    np.testing.assert_array_equal(decoded, image.reshape(7, 5, -1))


def test_png_rejects_bad_input():
    with pytest.raises(ValueError):
        images.encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        images.encode_png(np.zeros((4, 4, 4), np.uint8))


def test_write_png_is_atomic_and_readable(tmp_path):
    path = tmp_path / "sub" / "x.png"
    image = np.full((3, 2, 3), 7, np.uint8)
    images.write_png(str(path), image)
    np.testing.assert_array_equal(decode_png(path.read_bytes()), image)
    assert os.listdir(path.parent) == ["x.png"]  # no temp files left behind


# --- tensorboard: pure-python format checks ----------------------------------------------------


def test_crc32c_known_vectors():
    assert tensorboard._crc32c_python(b"123456789") == 0xE3069283
    assert tensorboard._crc32c_python(b"") == 0
    assert tensorboard._crc32c_python(b"\x00" * 32) == 0x8A9136AA
    assert tensorboard.crc32c(b"123456789") == 0xE3069283


def test_masked_crc32c():
    crc = 0xE3069283
    expected = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    assert tensorboard.masked_crc32c(b"123456789") == expected


def test_varint_encoding():
    assert tensorboard._varint(0) == b"\x00"
    assert tensorboard._varint(300) == b"\xac\x02"
    assert tensorboard._varint(-1) == b"\xff" * 9 + b"\x01"


def read_records(path: str) -> list[bytes]:
    """Independent TFRecord reader that verifies both CRCs."""
    with open(path, "rb") as f:
        data = f.read()
    pos, out = 0, []
    while pos < len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        assert len_crc == tensorboard.masked_crc32c(header)
        body = data[pos + 12 : pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
        assert body_crc == tensorboard.masked_crc32c(body)
        out.append(body)
        pos += 16 + length
    return out


def test_event_file_framing_and_name(tmp_path):
    writer = tensorboard.SummaryWriter(str(tmp_path))
    writer.scalar("loss", 1.5, step=3)
    writer.close()
    (path,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
    records = read_records(path)
    assert len(records) == 2
    assert b"brain.Event:2" in records[0]
    assert b"loss" in records[1] and struct.pack("<f", 1.5) in records[1]


def test_writer_buffers_until_flush_interval(tmp_path):
    clock = FakeClock()
    writer = tensorboard.SummaryWriter(str(tmp_path), flush_every_seconds=10, clock=clock)
    size = os.path.getsize(writer.path)
    writer.scalar("a", 1.0, 1)
    assert os.path.getsize(writer.path) == size  # buffered
    clock.t += 11
    writer.scalar("a", 2.0, 2)
    assert os.path.getsize(writer.path) > size  # time-based flush
    writer.close()
    with pytest.raises(ValueError):
        writer.scalar("a", 3.0, 3)


# --- tensorboard: read back with TensorBoard itself --------------------------------------------


def _accumulator(logdir):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0}
    )
    acc.Reload()
    return acc


def test_tensorboard_reads_scalars_and_images(tmp_path):
    pytest.importorskip("tensorboard")
    writer = tensorboard.SummaryWriter(str(tmp_path))
    for step in range(1, 4):
        writer.scalars({"loss/d": -step / 2, "loss/g": np.float32(step)}, step)
    writer.scalar("lr", 1e-4, 3)
    writer.scalars({"big": 1e300, "nan": float("nan")}, 3)  # beyond float32 / non-finite
    rgb = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    writer.image("samples", rgb, 3)
    writer.image("gray", np.zeros((4, 5), np.uint8), 3)
    writer.close()

    acc = _accumulator(tmp_path)
    assert acc.file_version == 2.0
    assert sorted(acc.Tags()["scalars"]) == ["big", "loss/d", "loss/g", "lr", "nan"]
    assert acc.Scalars("big")[0].value == math.inf and math.isnan(acc.Scalars("nan")[0].value)
    assert [(e.step, e.value) for e in acc.Scalars("loss/d")] == [(1, -0.5), (2, -1.0), (3, -1.5)]
    assert [e.value for e in acc.Scalars("loss/g")] == [1.0, 2.0, 3.0]
    assert acc.Scalars("lr")[0].value == pytest.approx(1e-4)

    (img,) = acc.Images("samples")
    assert (img.step, img.height, img.width) == (3, 6, 9)
    np.testing.assert_array_equal(decode_png(img.encoded_image_string), rgb)
    (gray,) = acc.Images("gray")
    assert (gray.height, gray.width) == (4, 5)


def _plugin_scalars(logdir, tag):
    """Scalars as the TensorBoard UI sees them (plugin accumulator, tensor-based)."""
    from tensorboard.backend.event_processing import plugin_event_accumulator
    from tensorboard.util import tensor_util

    acc = plugin_event_accumulator.EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def _legacy_scalars(logdir, tag):
    return [(e.step, e.value) for e in _accumulator(logdir).Scalars(tag)]


@pytest.mark.parametrize("read_scalars", [_legacy_scalars, _plugin_scalars])
def test_tensorboard_purges_steps_after_resume(tmp_path, read_scalars):
    pytest.importorskip("tensorboard")
    first = tensorboard.SummaryWriter(str(tmp_path), purge_step=0)
    for step in range(1, 6):
        first.scalar("loss", float(step), step)
    first.close()
    # Resume from a checkpoint at step 3: steps 4 and 5 are logged again by the new writer.
    second = tensorboard.SummaryWriter(str(tmp_path), purge_step=4)
    assert second.path != first.path  # same second, same process: still a new file
    for step in range(4, 6):
        second.scalar("loss", 10.0 * step, step)
    second.close()

    got = read_scalars(tmp_path, "loss")
    assert got == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0)]


# --- metrics.jsonl -----------------------------------------------------------------------------


def _lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_metrics_writer_converts_scalars(tmp_path):
    jnp = pytest.importorskip("jax.numpy")
    writer = metrics.MetricsWriter(str(tmp_path))
    writer.write(1, {"a": np.float32(0.5), "b": jnp.asarray(2.0), "c": 3, "d": np.array([4.0])})
    writer.close()
    assert _lines(tmp_path / "metrics.jsonl") == [
        {"step": 1, "a": 0.5, "b": 2.0, "c": 3.0, "d": 4.0}
    ]


def test_metrics_non_finite_values_stay_valid_json(tmp_path):
    writer = metrics.MetricsWriter(str(tmp_path))
    writer.write(1, {"nan": float("nan"), "inf": np.inf, "ninf": -np.inf})
    writer.close()
    path = tmp_path / "metrics.jsonl"
    # json.loads with NaN/Infinity literals disallowed: the file must be strict JSON.
    strict = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))
    assert strict == {"step": 1, "nan": "nan", "inf": "inf", "ninf": "-inf"}
    (record,) = metrics.read_metrics(str(path))
    assert math.isnan(record["nan"]) and record["inf"] == math.inf and record["ninf"] == -math.inf


def test_metrics_flushes_every_write(tmp_path):
    writer = metrics.MetricsWriter(str(tmp_path))
    writer.write(1, {"a": 1.0})
    # Read while still open: a killed process must leave this line behind.
    assert _lines(tmp_path / "metrics.jsonl") == [{"step": 1, "a": 1.0}]
    writer.close()


def test_metrics_resume_truncates_later_steps(tmp_path):
    writer = metrics.MetricsWriter(str(tmp_path))
    for step in (50, 100, 150):
        writer.write(step, {"loss": step / 10})
    writer.close()
    # Last checkpoint was at step 100; steps 101.. will be logged again.
    writer = metrics.MetricsWriter(str(tmp_path), resume_step=100)
    writer.write(150, {"loss": 0.0})
    writer.close()
    steps = [r["step"] for r in _lines(tmp_path / "metrics.jsonl")]
    assert steps == [50, 100, 150]
    assert _lines(tmp_path / "metrics.jsonl")[-1]["loss"] == 0.0


def test_metrics_drops_truncated_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "a": 1.0}\n{"step": 2, "a": 2.0}\n{"step": 3, "a"')
    writer = metrics.MetricsWriter(str(tmp_path))
    writer.write(3, {"a": 3.0})
    writer.close()
    assert [r["step"] for r in _lines(path)] == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]  # no temp file left


def test_metrics_keeps_untouched_file_and_disabled_writes_nothing(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "a": 1.0}\n')
    mtime = os.stat(path).st_mtime_ns
    metrics.MetricsWriter(str(tmp_path), resume_step=5).close()
    assert os.stat(path).st_mtime_ns == mtime  # nothing to drop -> no rewrite

    other = tmp_path / "other"
    disabled = metrics.MetricsWriter(str(other), enabled=False, resume_step=0)
    disabled.write(1, {"a": 1.0})
    disabled.close()
    assert not other.exists()


def test_run_writers(tmp_path):
    pytest.importorskip("tensorboard")
    with metrics.RunWriters(str(tmp_path), enabled=True, resume_step=None) as writers:
        writers.write_scalars(10, {"loss": np.float32(0.25)})
        grid = images.make_grid(np.ones((4, 8, 8, 3), np.float32))
        writers.write_images(10, {"samples": grid})
        writers.flush()
    assert _lines(tmp_path / "metrics.jsonl") == [{"step": 10, "loss": 0.25}]
    png = tmp_path / "samples" / "samples_00000010.png"
    np.testing.assert_array_equal(decode_png(png.read_bytes()), grid)
    acc = _accumulator(tmp_path)
    assert acc.Scalars("loss")[0].value == 0.25
    assert acc.Images("samples")[0].width == grid.shape[1]

    # Resume from a checkpoint at step 5: step 10 is logged again and must appear once.
    with metrics.RunWriters(str(tmp_path), enabled=True, resume_step=5) as writers:
        writers.write_scalars(10, {"loss": 0.5})
    assert _lines(tmp_path / "metrics.jsonl") == [{"step": 10, "loss": 0.5}]
    assert _plugin_scalars(tmp_path, "loss") == [(10, 0.5)]

    disabled_dir = tmp_path / "disabled"
    with metrics.RunWriters(str(disabled_dir), enabled=False, resume_step=3) as writers:
        writers.write_scalars(1, {"loss": 1.0})
        writers.write_images(1, {"samples": grid})
    assert not disabled_dir.exists()


# --- progress ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (0, "0s"),
        (45.4, "45s"),
        (59.6, "1m 00s"),
        (750, "12m 30s"),
        (3 * 3600 + 5 * 60 + 9, "3h 05m"),
        (2 * 86400 + 12 * 3600 + 3 * 60 + 59, "2d 12h 03m"),
        (math.inf, "--"),
        (math.nan, "--"),
        (-1, "--"),
    ],
)
def test_format_duration(seconds, expected):
    assert progress.format_duration(seconds) == expected


def test_format_line_matches_documented_shape():
    line = progress.format_line(1200, 200000, 0.91, {"loss_d": -1.2341, "loss_g": 0.5674})
    assert line == (
        "step 1200/200000 (0.6%) | 0.91 steps/s | ETA 2d 12h 41m | loss_d=-1.234 loss_g=0.5674"
    )
    assert progress.format_line(5, 10, None, {}) == "step 5/10 (50.0%) | -- steps/s | ETA --"
    assert progress.format_rate(1234.5) == "1234 steps/s"
    assert progress.format_rate(0.001234) == "0.0012 steps/s"


def test_progress_rate_limits_and_excludes_compilation():
    clock = FakeClock()
    prog = progress.Progress(total_steps=100, start_step=0, every_seconds=10, clock=clock)

    clock.t += 60  # step 1 includes a minute of compilation
    first = prog.update(1, {"loss": 1.0})
    assert first is not None and first.startswith("step 1/100 (1.0%) | -- steps/s")

    lines = []
    for step in range(2, 100):
        clock.t += 0.5  # 2 steps/s once compiled
        lines.append((step, prog.update(step, {"loss": 1.0})))
    emitted = [step for step, line in lines if line is not None]
    assert emitted == [21, 41, 61, 81]  # every 10 s since the first line = 20 steps
    # Rate over steps 2..21 only: the 60 s compile of step 1 does not distort it.
    assert "| 2.00 steps/s | ETA 40s |" in dict(lines)[21]

    clock.t += 0.5
    last = prog.update(100, {})
    assert last is not None and "2.00 steps/s" in last and "ETA 0s" in last


def test_progress_rate_uses_recent_window():
    clock = FakeClock()
    prog = progress.Progress(1000, 0, every_seconds=1, window=2, clock=clock)
    prog.update(1)
    for step in range(2, 12):  # 1 step/s
        clock.t += 1
        prog.update(step)
    for step in range(12, 40):  # speeds up to 4 steps/s
        clock.t += 0.25
        prog.update(step)
    assert prog.rate() == pytest.approx(4.0)
