"""Noticing a preemption (SIGTERM) so the trainer can checkpoint before it is killed."""

import contextlib
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
        self._raise = None  # set by raising(): what a SIGTERM raises at once

    def __enter__(self):
        if jax.process_count() == 1:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum, frame):
        del frame
        self._flag = True
        if self._raise is not None:
            logging.warning("Received signal %d: stopping the final evaluations.", signum)
            raise self._raise()
        logging.warning("Received signal %d: checkpointing after the current step.", signum)

    @contextlib.contextmanager
    def raising(self, exception_type):
        """Within this block a SIGTERM raises `exception_type` at once (also when one came
        before): for work after the last checkpoint, such as the final evaluations, where
        waiting for the current task to end could take minutes. Single process only; with
        several processes `reached` is polled between tasks instead."""
        if self._flag and jax.process_count() == 1:
            raise exception_type()
        self._raise = exception_type
        try:
            yield
        finally:
            self._raise = None

    def reached(self, step: int) -> bool:
        if jax.process_count() == 1:
            return self._flag
        return multihost_utils.reached_preemption_sync_point(step)
