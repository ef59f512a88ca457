"""The final evaluations as part of a run's resumable state.

The evaluations after the last step can take minutes (FID, importance-sampled likelihoods).
A preemption or a kill during them must not lose those already done, and a rerun must finish
the missing ones rather than report "Done". ``<workdir>/final_evals.json`` records, for the
final step, the scalars logged so far (the last window's training metrics plus each finished
evaluator's figures) and which evaluators finished. The last ``metrics.jsonl`` line, written
once all are done, holds the same scalars as it did before this record existed.
"""

from __future__ import annotations

import json
import os

from gendl.monitoring import images as images_lib
from gendl.monitoring import metrics as metrics_lib

FILENAME = "final_evals.json"


class FinalEvalRecord:
    """What the final evaluations at ``step`` have done so far (process 0 writes it)."""

    def __init__(self, workdir: str, step: int, *, write: bool):
        self.path = os.path.join(workdir, FILENAME)
        self.step = step
        self._write = write
        self.scalars: dict[str, float] = {}
        self.done: list[str] = []
        self.complete = False
        found = _read(self.path)
        if found is not None and found.get("step") == step:
            self.scalars = dict(found.get("scalars", {}))
            self.done = list(found.get("done", []))
            self.complete = bool(found.get("complete", False))
        elif found is None and _metrics_has_step(workdir, step):
            # A run finished before this record existed: its last metrics line is written
            # only after every final evaluation.
            self.complete = True

    def start(self, window_scalars: dict[str, float]) -> None:
        """Keeps the last training window's metrics (logged with the evaluations)."""
        if not self.done and not self.scalars:
            self.scalars = dict(window_scalars)
        self._save()

    def finished(self, name: str, scalars: dict[str, float]) -> None:
        self.scalars.update(scalars)
        self.done.append(name)
        self._save()

    def mark_complete(self) -> None:
        self.complete = True
        self._save()

    def _save(self) -> None:
        if not self._write:
            return
        record = {
            "step": self.step,
            "done": self.done,
            "complete": self.complete,
            "scalars": {k: metrics_lib.to_float(v) for k, v in self.scalars.items()},
        }
        images_lib.write_atomic(self.path, json.dumps(record, indent=2).encode())


def _read(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _metrics_has_step(workdir: str, step: int) -> bool:
    path = os.path.join(workdir, metrics_lib.METRICS_FILENAME)
    if not os.path.exists(path):
        return False
    return any(r.get("step") == step for r in metrics_lib.read_metrics(path))
