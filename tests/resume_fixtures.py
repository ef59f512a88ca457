"""An end-to-end run trained twice: straight through, and stopped by SIGTERM after a given
step then resumed with the same config, for tests that resume is exact (bitwise metrics)."""

import json
import os
import signal

import pytest

from gendl.training import loop, preemption


def straight_and_resumed(config, root, stop_after: int):
    """Trains `config` in root/"straight" and, with a SIGTERM after step `stop_after` and a
    rerun, in root/"resumed"; returns root."""
    loop.train(config, str(root / "straight"))
    original = preemption.PreemptionWatch.reached

    def sigterm_after(self, step):
        if step == stop_after:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, step)

    preemption.PreemptionWatch.reached = sigterm_after
    try:
        with pytest.raises(loop.Preempted, match=f"step {stop_after}"):
            loop.train(config, str(root / "resumed"))
    finally:
        preemption.PreemptionWatch.reached = original
    loop.train(config, str(root / "resumed"))
    return root


def metrics(workdir):
    with open(workdir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]
