"""Machine-readable metrics log (`metrics.jsonl`) and the per-run writer facade.

`metrics.jsonl` holds one JSON object per logged step, `{"step": int, "<name>": float, ...}`,
so a run can be analysed with nothing but `json` (or `pandas.read_json(lines=True)`).
"""

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from gendl.monitoring import images as images_lib
from gendl.monitoring import tensorboard

METRICS_FILENAME = "metrics.jsonl"
SAMPLES_DIRNAME = "samples"


def to_float(value: Any) -> float:
    """Converts a Python/numpy/jax scalar (or size-1 array) to a Python float."""
    array = np.asarray(value)
    if array.size != 1:
        raise ValueError(f"expected a scalar metric, got shape {array.shape}")
    return float(array.reshape(()))


def _json_number(value: float) -> float | str:
    # Strict JSON has no NaN/Infinity literals (json.dumps would emit them and break other
    # readers). We write the strings "nan", "inf", "-inf" rather than null: a diverging GAN
    # loss is worth telling apart from a NaN, and float() parses these strings back directly.
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def format_record(step: int, scalars: Mapping[str, Any]) -> str:
    """One JSON line (without newline) for a step; `step` comes first for readability."""
    record: dict[str, Any] = {"step": int(step)}
    for name, value in scalars.items():
        if name == "step":
            raise ValueError("'step' is reserved in metrics records")
        record[name] = _json_number(to_float(value))
    return json.dumps(record, allow_nan=False)


def _parse_step(line: str) -> int | None:
    """The step of a well-formed record line, or None for a broken/partial line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("step"), int):
        return None
    return record["step"]


def repair_metrics_file(path: str, resume_step: int | None = None) -> None:
    """Makes `path` safe to append to: drops partial lines and, when resuming, steps > resume_step.

    A process killed mid-write can leave a final line without newline, and a run that died
    after logging past its last checkpoint will re-log those steps after resuming; readers
    should see each step once. The file is only rewritten (atomically) if something changes.
    """
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        content = f.read()
    kept = []
    for line in content.splitlines():
        step = _parse_step(line)
        if step is not None and (resume_step is None or step <= resume_step):
            kept.append(line + "\n")
    new_content = "".join(kept)
    if new_content != content:
        images_lib.write_atomic(path, new_content.encode("utf-8"))


class MetricsWriter:
    """Appends `{"step": ..., **scalars}` lines to `<workdir>/metrics.jsonl`.

    Each line is written with a single write and flushed, so a killed process leaves only
    complete lines behind (modulo the OS crash case, handled by `repair_metrics_file`).
    With `enabled=False` (non-zero processes in multi-host runs) nothing is read or written:
    only process 0 owns the file.
    """

    def __init__(self, workdir: str, *, enabled: bool = True, resume_step: int | None = None):
        self.enabled = enabled
        self.path = os.path.join(workdir, METRICS_FILENAME)
        self._file = None
        if not enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        repair_metrics_file(self.path, resume_step)
        self._file = open(self.path, "a", encoding="utf-8")  # open for the writer's lifetime

    def write(self, step: int, scalars: Mapping[str, Any]) -> None:
        if self._file is None:
            if self.enabled:
                raise ValueError("MetricsWriter is closed")
            return
        self._file.write(format_record(step, scalars) + "\n")
        self._file.flush()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self.enabled = False


def read_metrics(path: str) -> list[dict[str, Any]]:
    """Reads a metrics file back, turning "nan"/"inf"/"-inf" strings into floats."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            records.append({k: float(v) if isinstance(v, str) else v for k, v in record.items()})
    return records


class RunWriters:
    """Everything a training run writes for humans: TensorBoard, metrics.jsonl, sample PNGs.

    TensorBoard events go straight into `workdir`, sample images additionally to
    `<workdir>/samples/<name>_<step:08d>.png`. `resume_step` (the restored checkpoint's step)
    removes what a previous incarnation logged past that checkpoint: truncation in
    metrics.jsonl and a purge marker for TensorBoard. With `enabled=False` every method is a
    no-op, so callers need not branch on the process index.
    """

    def __init__(self, workdir: str, *, enabled: bool = True, resume_step: int | None = None):
        self.workdir = workdir
        self.enabled = enabled
        self._summary: tensorboard.SummaryWriter | None = None
        self._metrics = MetricsWriter(workdir, enabled=enabled, resume_step=resume_step)
        if enabled:
            # Always mark where this incarnation starts (see SummaryWriter): 0 for a fresh run
            # also purges what an earlier attempt logged before dying without a checkpoint.
            purge_step = 0 if resume_step is None else resume_step + 1
            self._summary = tensorboard.SummaryWriter(workdir, purge_step=purge_step)

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        if self._summary is None:
            return
        # Convert once: both sinks need Python floats, and this pulls jax values off device.
        values = {name: to_float(value) for name, value in scalars.items()}
        self._summary.scalars(values, step)
        self._metrics.write(step, values)

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
        """Logs uint8 images [H, W, C] to TensorBoard and as PNG files under `samples/`."""
        if self._summary is None:
            return
        for name, image in images.items():
            image = np.asarray(image)
            self._summary.image(name, image, step)
            filename = f"{name.replace('/', '_')}_{int(step):08d}.png"
            images_lib.write_png(os.path.join(self.workdir, SAMPLES_DIRNAME, filename), image)

    def flush(self) -> None:
        if self._summary is not None:
            self._summary.flush()
        self._metrics.flush()

    def close(self) -> None:
        if self._summary is not None:
            self._summary.close()
            self._summary = None
        self._metrics.close()

    def __enter__(self) -> "RunWriters":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
