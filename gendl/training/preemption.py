"""Noticing a preemption (SIGTERM) so the trainer can checkpoint before it is killed."""

import signal

import jax
from absl import logging
from jax.experimental import multihost_utils


class PreemptionWatch:
    """Single process: a SIGTERM handler sets a flag. Several processes: every process must
    agree on the step at which to save (each writes its shard of the checkpoint), which
    jax.distributed's preemption sync point provides."""

    def __init__(self):
        self._flag = False
        self._previous = None

    def __enter__(self):
        if jax.process_count() == 1:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum, frame):
        del frame
        logging.warning("Received signal %d: checkpointing after the current step.", signum)
        self._flag = True

    def reached(self, step: int) -> bool:
        if jax.process_count() == 1:
            return self._flag
        return multihost_utils.reached_preemption_sync_point(step)
