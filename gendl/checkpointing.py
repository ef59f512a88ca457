"""Checkpointing of the trainer state with orbax.

One checkpoint per saved step holds two items: ``state`` (the ``TrainState`` pytree of jax.Arrays,
written with ``StandardSave``) and ``meta`` (a small JSON dict: data position, gendl version, ...).

On-disk layout (orbax-checkpoint 0.12.8, OCDBT + zarr, the defaults)::

    <workdir>/checkpoints/
      <step>/                          one finalized checkpoint, e.g. ``1000/``
        _CHECKPOINT_METADATA           step metadata (item handlers, timestamps)
        state/
          _METADATA                    tree structure, shapes and dtypes of every array
          _sharding                    shardings at save time
          manifest.ocdbt               OCDBT root: index of the array data files
          d/<hash>                     the array data (all processes' writes merged on finalize)
          ocdbt.process_<i>/           per-process OCDBT databases (superseded by ``d/`` once
                                       finalized)
          array_metadatas/process_<i>
        meta/metadata                  the JSON ``meta`` dict (written by the primary host only)
      <step>.orbax-checkpoint-tmp/     a save in progress

Atomicity: orbax writes a step into ``<step>.orbax-checkpoint-tmp`` and renames it to ``<step>``
only once every process has finished writing, so a process killed mid-save never leaves a
finalized partial step. A leftover tmp directory is invisible to ``all_steps()``; orbax removes it
when the same step is saved again, and ``cleanup_tmp_directories=True`` (set below) removes all
leftovers before the first save of the next run.

What orbax cannot protect against is damage after the fact (a file deleted or truncated by hand,
a disk or filesystem fault, an interrupted rsync, a few flipped bytes that orbax would restore
without a word). Once a save is finalized, the primary host therefore records the size and
SHA-256 of every file of the step in ``<step>/gendl_checksums.json`` (written atomically; a
step killed before it has none and is restored as before, unverified). ``restore()`` validates
each candidate checkpoint, newest first:

0. its files must match the recorded checksums;
1. its metadata must be readable: ``state/_METADATA`` and, through the OCDBT manifest and
   ``d/`` files, each array's zarr metadata (so a deleted or truncated data file already shows
   up here: tensorstore reports NOT_FOUND, OUT_OF_RANGE or DATA_LOSS);
2. its tree (key paths), shapes and dtypes must match ``abstract_state`` exactly; a difference is
   reported as a structure mismatch (the model or config changed), not as corruption. orbax
   itself would fail on some of these only with a generic error and silently cast a dtype;
3. the arrays and the ``meta`` JSON must then restore without error.

A failed write (a full disk: orbax's ValueError RESOURCE_EXHAUSTED, often from its background
thread; an unwritable path) raises CheckpointError, one paragraph, as soon as it is known (the
trainer polls ``raise_if_write_failed`` every step); what the failed save left is removed, so
the latest finalized step is the last complete checkpoint.

A checkpoint that fails is logged as a WARNING naming the step and the reason, and the previous one
is tried. Unreadable checkpoints are not deleted or moved when they are detected: the cause may be
transient (a flaky network filesystem) or worth inspecting, and deleting data on a read error is
not this module's call. They stay where they are, count towards ``keep`` and are pruned like any
other checkpoint once they are old enough. The only exception: when training reaches the step of
a checkpoint found unreadable by this process and saves it again, the unreadable copy is replaced
(orbax holds a single checkpoint per step).
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import logging as py_logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

_STATE = "state"
_META = "meta"
# Written into each finalized step directory by the primary host: size and SHA-256 of every file.
CHECKSUMS_FILENAME = "gendl_checksums.json"
_HASH_CHUNK = 1 << 20

# How many individual differences a structure-mismatch message lists before summarising.
_MAX_LISTED_DIFFERENCES = 3


class CheckpointError(RuntimeError):
    """A checkpoint problem the user has to act on. The message is one self-contained paragraph,
    meant to be printed by the CLI without a traceback."""


class _Unusable(Exception):
    """Internal: why one checkpoint step cannot be restored."""

    def __init__(self, reason: str, *, mismatch: bool):
        super().__init__(reason)
        self.reason = reason
        self.mismatch = mismatch


class Checkpointer:
    """Saves and restores the trainer state and its ``meta`` dict under ``directory``.

    Wraps an ``ocp.CheckpointManager``. Call ``save``/``restore``/``wait``/``close`` from every
    process; orbax coordinates the processes itself once ``jax.distributed`` is initialised.
    """

    def __init__(
        self,
        directory: epath.PathLike,
        *,
        save_every_steps: int,
        keep: int,
        async_save: bool = True,
    ):
        if save_every_steps < 1:
            raise ValueError(f"save_every_steps must be >= 1, got {save_every_steps}")
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        # Orbax's array store (OCDBT) refuses relative paths; users pass --workdir=runs/x.
        self._directory = epath.Path(os.path.abspath(os.fspath(directory)))
        self._save_every_steps = save_every_steps
        # Steps that restore() found unreadable, with the reason; see the module docstring.
        self._unreadable: dict[int, str] = {}
        self._last_saved_step: int | None = None
        self._closed = False
        # Saved steps whose checksums are recorded once their async write is finalized.
        self._awaiting_checksums: list[int] = []
        self._background_failures = _BackgroundFailureCapture()
        options = ocp.CheckpointManagerOptions(
            # The policy objects are the non-deprecated spelling of save_interval_steps and
            # max_to_keep. orbax's default policy also has InitialSavePolicy, which saves at the
            # first should_save() call of a fresh run whatever the step; we only want multiples
            # of save_every_steps (plus orbax's multi-host preemption sync points).
            save_decision_policy=ocp.checkpoint_managers.AnySavePolicy(
                [
                    ocp.checkpoint_managers.FixedIntervalPolicy(save_every_steps),
                    ocp.checkpoint_managers.PreemptionCheckpointingPolicy(),
                ]
            ),
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            create=True,
            cleanup_tmp_directories=True,
            enable_async_checkpointing=async_save,
        )
        # Registering the handlers up front (instead of letting orbax infer them on the first
        # save) lets restore() read a step's metadata before anything was saved in this process.
        registry = ocp.handlers.create_default_handler_registry(
            **{_STATE: ocp.StandardCheckpointHandler(), _META: ocp.JsonCheckpointHandler()}
        )
        try:
            self._manager = ocp.CheckpointManager(
                self._directory, options=options, handler_registry=registry
            )
        except OSError as e:
            raise CheckpointError(
                f"Cannot use the checkpoint directory {self._directory}: {_short(e)}. Check that "
                "the path is writable, or pass a different --workdir."
            ) from e

    @property
    def directory(self) -> epath.Path:
        return self._directory

    # -- queries ---------------------------------------------------------------------------------

    def all_steps(self) -> list[int]:
        """Steps of all finalized checkpoints, ascending (including ones found unreadable)."""
        return sorted(int(s) for s in self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest finalized checkpoint step, or None. It may still turn out unreadable;
        ``restore()`` is what finds the newest usable one."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    def verify(self, step: int) -> str | None:
        """Why checkpoint ``step``'s files no longer match their checksums, or None."""
        return verify_checksums(self._directory / str(int(step)))

    def should_save(self, step: int) -> bool:
        """Whether ``save(step, ...)`` without ``force`` would write a checkpoint."""
        step = int(step)
        if self._manager.should_save(step):
            return True
        # orbax refuses every step at or below its newest checkpoint. After restore() fell back
        # past unreadable checkpoints, those are exactly the steps being trained again, so keep
        # saving on schedule, replacing the unreadable ones and filling any gaps.
        if not self._unreadable or step % self._save_every_steps != 0:
            return False
        return step in self._unreadable or step not in self.all_steps()

    # -- save ------------------------------------------------------------------------------------

    def save(self, step: int, state: Any, meta: Mapping[str, Any], *, force: bool = False) -> bool:
        """Starts saving ``state`` and ``meta`` as checkpoint ``step``; returns whether it did.

        Without ``force`` it saves only when ``should_save(step)``. With ``force`` (preemption,
        end of training) it saves any step, except one that already has a checkpoint: that is a
        no-op returning False rather than orbax's StepAlreadyExistsError.

        With async saving this returns once the arrays are copied to host memory; the files are
        written in a background thread (call ``wait()`` before exiting). The caller may donate or
        overwrite ``state``'s buffers right away: in orbax 0.12.8, without
        ``save_device_host_concurrent_gb`` every array is "prioritized", and
        ``jax_array_handlers._serialize_arrays_batches_without_dispatcher`` calls
        ``replica_slices.transfer_arrays_to_host`` synchronously, which blocks until each shard is
        a numpy array on the host (``copy_to_host_async`` + ``np.asarray``). On GPU/TPU that is a
        host copy. On the CPU backend ``np.asarray`` is a zero-copy view; its external reference
        makes XLA decline the donation (it computes into a fresh buffer), so the saved values
        still cannot change. Only the write to storage runs in the background.
        """
        step = int(step)
        if not force and not self.should_save(step):
            return False
        # The previous async save must be complete (orbax would wait for it anyway): its
        # failure surfaces now, not silently, and its checksums are recorded.
        self.wait()
        replacing = step in self._unreadable and step in self._manager.all_steps()
        if not replacing and step in self._manager.all_steps():
            logging.info("A checkpoint for step %d already exists; not saving it again.", step)
            return False
        meta = dict(meta)
        # orbax serializes `meta` in its background thread, where e.g. a numpy integer would
        # surface much later as a failed write; fail here, with the caller's traceback.
        json.dumps(meta)
        if replacing:
            logging.warning(
                "Replacing the unreadable checkpoint at step %d in %s (%s) with a new one.",
                step,
                self._directory,
                self._unreadable[step],
            )
            # Let a previous async save finish first: its finalize thread may be pruning steps.
            self._manager.wait_until_finished()
            self._manager.delete(step)
        args = ocp.args.Composite(
            **{_STATE: ocp.args.StandardSave(state), _META: ocp.args.JsonSave(meta)}
        )
        try:
            # force=True: the decision was made above, with the unreadable-checkpoint exceptions
            # that orbax's own should_save() does not know about.
            saved = self._manager.save(step, args=args, force=True)
        except Exception as e:
            # orbax reports a full disk as ValueError (tensorstore's RESOURCE_EXHAUSTED), an
            # unwritable path as OSError or ValueError (PERMISSION_DENIED).
            self._abandon(step)
            raise CheckpointError(self._write_failure(step, e)) from None
        if saved:
            self._awaiting_checksums.append(step)
            self._background_failures.active = True
            self._unreadable.pop(step, None)
            self._last_saved_step = step
        return saved

    def wait(self) -> None:
        """Blocks until a pending async save is written and finalized (and old steps pruned),
        then records the checksums of its files. Raises CheckpointError when the write failed:
        the step is then not finalized, and the previous checkpoints are the latest."""
        try:
            self._manager.wait_until_finished()
            self._manager.check_for_errors()
            error = None
        except Exception as e:
            error = e
        # On the primary host orbax's finalize thread consumes a background failure and only
        # logs it (with a traceback): the capture keeps it for this message instead.
        error = error or self._background_failures.take()
        self._background_failures.active = False
        pending, self._awaiting_checksums = self._awaiting_checksums, []
        for step in pending:
            if error is None and not (self._directory / str(step)).is_dir():
                error = RuntimeError(f"step {step} was not finalized")
            if error is not None:
                self._abandon(step)
                raise CheckpointError(self._write_failure(step, error)) from None
            if jax.process_index() == 0:
                try:
                    write_checksums(self._directory / str(step))
                except OSError as e:
                    raise CheckpointError(self._write_failure(step, e)) from None

    def raise_if_write_failed(self) -> None:
        """Raises CheckpointError at once when a background write has already failed (a cheap
        check, for every step), rather than at the next save."""
        if self._background_failures.pending():
            self.wait()

    def _write_failure(self, step: int, error: BaseException) -> str:
        latest = [s for s in self.all_steps() if s != step and (self._directory / str(s)).is_dir()]
        return (
            f"Writing the checkpoint for step {step} in {self._directory} failed: "
            f"{_short(error, self._directory)}. Training stopped at once; nothing of step "
            f"{step} is left as a checkpoint, and the latest complete checkpoint is "
            f"{'step ' + str(latest[-1]) if latest else 'none'}. Free disk space (or fix the "
            "permissions), then rerun the same command to resume from it."
        )

    def _abandon(self, step: int) -> None:
        """Removes what a failed save of ``step`` left behind, so that it is never "latest"."""
        for path in (self._directory / str(step), self._directory / f"{step}.orbax-checkpoint-tmp"):
            # save() refuses existing steps, so whatever is there came from the failed save.
            if path.exists():
                try:
                    path.rmtree()
                except OSError:
                    pass  # a later run's cleanup_tmp_directories removes leftovers
        try:
            self._manager.reload()
        except Exception:
            pass

    def close(self) -> None:
        """Waits for pending saves, then releases orbax's threads. Safe to call twice."""
        if self._closed:
            return
        try:
            self.wait()
        finally:
            self._closed = True
            self._background_failures.remove()
            self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- restore ---------------------------------------------------------------------------------

    def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict, int] | None:
        """Restores ``(state, meta, step)``, or returns None when there is no checkpoint.

        ``abstract_state`` is a pytree of ``jax.ShapeDtypeStruct`` with ``.sharding`` set (e.g.
        ``jax.eval_shape`` of the init function plus the trainer's shardings); arrays are read
        straight into that sharding, bitwise as saved.

        With ``step=None`` it takes the newest checkpoint that is readable and matches
        ``abstract_state``, logging a WARNING for each newer one it has to skip. With an explicit
        ``step`` there is no fallback. Raises CheckpointError when nothing usable is found.
        """
        _check_abstract_state(abstract_state)
        steps = self.all_steps()
        if step is not None:
            step = int(step)
            if step not in steps:
                raise CheckpointError(
                    f"There is no checkpoint for step {step} in {self._directory} (available: "
                    f"{_fmt_steps(steps)})."
                )
            candidates = [step]
        else:
            candidates = steps[::-1]
        if not candidates:
            return None

        failures: list[tuple[int, _Unusable]] = []
        with _ReadFailureEcho() as echo:
            for i, candidate in enumerate(candidates):
                result = None
                try:
                    result = self._restore_step(abstract_state, candidate)
                except _Unusable as e:
                    failure = e
                    # Even `raise ... from None` keeps the original error as __context__, and
                    # its traceback would keep the failed read coroutines alive.
                    failure.__context__ = None
                    if not failure.mismatch:
                        echo.collect()
                else:
                    failure = None
                # Every process must take the same branch, or the next orbax call deadlocks.
                if _all_processes_agree(failure is None):
                    self._log_skipped(failures, candidate)
                    return result[0], result[1], candidate
                if failure is None:
                    failure = _Unusable("another process could not read it", mismatch=False)
                failures.append((candidate, failure))
                if not failure.mismatch:
                    self._unreadable[candidate] = failure.reason
                # A mismatch is only logged if an older checkpoint turns out usable: after a
                # config change every checkpoint mismatches, and the error says it all.
                if step is None and i + 1 < len(candidates) and not failure.mismatch:
                    logging.warning(
                        "Checkpoint at step %d in %s is unreadable, corrupt or incomplete (%s); "
                        "falling back to the previous checkpoint (step %d). The checkpoint is "
                        "left in place.",
                        candidate,
                        self._directory,
                        failure.reason,
                        candidates[i + 1],
                    )
        raise CheckpointError(self._explain_failures(failures))

    def _restore_step(self, abstract_state: Any, step: int) -> tuple[Any, dict]:
        """Restores one step or raises _Unusable saying why it cannot be used."""
        # Reasons are kept to one line (see _short): they end up in a warning or CheckpointError.
        damage = verify_checksums(self._directory / str(step))
        if damage is not None:
            raise _Unusable(damage, mismatch=False)
        try:
            item_metadata = self._manager.metadata(step).item_metadata
            tree_metadata = item_metadata.get(_STATE) if item_metadata is not None else None
        except Exception as e:
            raise _Unusable(_short(e, self._directory), mismatch=False) from None
        if tree_metadata is None:
            raise _Unusable(
                f"its '{_STATE}' item or state/_METADATA file is missing", mismatch=False
            )
        # Compare before reading any array: orbax would report a missing key as a generic
        # ValueError, fail on shapes only when reading, and silently cast a changed dtype.
        mismatch = _describe_mismatch(tree_metadata, abstract_state)
        if mismatch:
            raise _Unusable(mismatch, mismatch=True)
        target, fill = _without_empty_fields_missing_on_disk(abstract_state, tree_metadata)
        args = ocp.args.Composite(
            **{_STATE: ocp.args.StandardRestore(target), _META: ocp.args.JsonRestore()}
        )
        try:
            restored = self._manager.restore(step, args=args)
            state, meta = fill(restored[_STATE]), restored[_META]
        except Exception as e:
            raise _Unusable(_short(e, self._directory), mismatch=False) from None
        if not isinstance(meta, dict):
            raise _Unusable(f"its '{_META}' item is not a JSON object", mismatch=False)
        return state, meta

    def _log_skipped(self, failures: list[tuple[int, _Unusable]], restored_step: int) -> None:
        for step, failure in failures:
            if failure.mismatch:
                logging.warning(
                    "Checkpoint at step %d in %s does not match the model (%s); skipped and "
                    "left in place.",
                    step,
                    self._directory,
                    failure.reason,
                )
        if failures:
            logging.warning(
                "Resuming from checkpoint step %d; the newer checkpoint(s) at step(s) %s were "
                "skipped and are left in %s.",
                restored_step,
                _fmt_steps([s for s, _ in failures]),
                self._directory,
            )

    def _explain_failures(self, failures: list[tuple[int, _Unusable]]) -> str:
        tried = _fmt_failures(failures)
        if all(f.mismatch for _, f in failures):
            return (
                f"The checkpoints in {self._directory} were written for a different model or "
                f"config than the one being run, so training cannot resume from them ({tried}). "
                "This workdir holds a run with a different model/config: use a new --workdir "
                "for this config, or rerun with the original config to resume that run."
            )
        if not any(f.mismatch for _, f in failures):
            return (
                f"None of the checkpoints in {self._directory} could be read ({tried}). They are "
                "corrupt or incomplete (e.g. files deleted or truncated, or a disk or "
                "filesystem fault). To start training over, move that directory away (or use "
                "a new --workdir); to resume, repair or restore the checkpoint files first."
            )
        return (
            f"No usable checkpoint in {self._directory} ({tried}). Some were written for a "
            "different model/config and the others are unreadable. Use a new --workdir for "
            "this config, or move that directory away to start over."
        )


# -- helpers -------------------------------------------------------------------------------------


def _check_abstract_state(abstract_state: Any) -> None:
    leaves = jax.tree.leaves(abstract_state)
    if not leaves:
        raise ValueError("abstract_state has no leaves")
    for path, leaf in jax.tree_util.tree_flatten_with_path(abstract_state)[0]:
        if getattr(leaf, "sharding", None) is None:
            raise ValueError(
                f"abstract_state leaf {jax.tree_util.keystr(path)} has no sharding; pass "
                "jax.ShapeDtypeStruct(shape, dtype, sharding=...) for every array so that it "
                "is restored directly with the training sharding."
            )


def _without_empty_fields_missing_on_disk(abstract_state: Any, tree_metadata: Any):
    """(restore target, function completing the restored state).

    A state field added later with an empty default (e.g. ``TrainState.objective_state``) is
    absent from checkpoints written before it existed, and orbax refuses a target with a
    container the checkpoint lacks. Such fields are left out of the target and put back,
    empty as in ``abstract_state``, after the restore; nothing else changes.
    """
    saved = getattr(tree_metadata, "tree", tree_metadata)
    if not dataclasses.is_dataclass(abstract_state) or not isinstance(saved, Mapping):
        return abstract_state, lambda state: state
    fields = {f.name: getattr(abstract_state, f.name) for f in dataclasses.fields(abstract_state)}
    missing = {k for k, v in fields.items() if k not in saved and not jax.tree.leaves(v)}
    if not missing:
        return abstract_state, lambda state: state
    target = {k: v for k, v in fields.items() if k not in missing}
    return target, lambda restored: abstract_state.replace(**restored)


def read_tree(directory: epath.PathLike) -> tuple[dict, int]:
    """The newest checkpoint's state under ``directory`` as a plain tree of host arrays
    (nested dicts and lists, as orbax saved it) and its step, without knowing the model or
    objective that wrote it: the target is built from the checkpoint's own metadata. For
    reading another run (``config.init_from``, a pretrained network); raises CheckpointError
    when there is no readable checkpoint."""
    directory = epath.Path(os.path.abspath(os.fspath(directory)))
    registry = ocp.handlers.create_default_handler_registry(
        **{_STATE: ocp.StandardCheckpointHandler(), _META: ocp.JsonCheckpointHandler()}
    )
    options = ocp.CheckpointManagerOptions(read_only=True, create=False)
    manager = None
    try:
        manager = ocp.CheckpointManager(directory, options=options, handler_registry=registry)
        step = manager.latest_step()
        if step is None:
            raise CheckpointError(f"There is no checkpoint in {directory}.")
        tree = manager.metadata(step).item_metadata[_STATE].tree
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        target = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree
        )
        args = ocp.args.Composite(**{_STATE: ocp.args.StandardRestore(target)})
        state = manager.restore(step, args=args)[_STATE]
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(
            f"Could not read the newest checkpoint in {directory}: {_short(e, directory)}. "
            "Point at a run's workdir (or its checkpoints folder) that holds a finished "
            "checkpoint."
        ) from None
    finally:
        if manager is not None:
            manager.close()
    return jax.device_get(state), int(step)


def _describe_mismatch(tree_metadata: Any, abstract_state: Any) -> str | None:
    """Differences between a checkpoint's tree metadata and the expected state, or None."""
    saved = ocp.tree.to_flat_dict(tree_metadata)
    expected = ocp.tree.to_flat_dict(abstract_state)
    problems = []
    # In the model's tree order (step, params, opt_state), so that params come first.
    for key, e in expected.items():
        name = "/".join(key)
        if key not in saved:
            problems.append(f"{name} is not in the checkpoint")
            continue
        s = saved[key]
        s_shape, s_dtype = getattr(s, "shape", None), getattr(s, "dtype", None)
        e_shape, e_dtype = tuple(e.shape), np.dtype(e.dtype)
        if s_shape is None or tuple(s_shape) != e_shape or np.dtype(s_dtype) != e_dtype:
            problems.append(
                f"{name} has shape {_fmt_shape(s_shape)} {s_dtype} in the checkpoint but "
                f"{_fmt_shape(e_shape)} {e_dtype} in the model"
            )
    for key in saved.keys() - expected.keys():
        problems.append(f"{'/'.join(key)} is in the checkpoint but not in the model")
    if not problems:
        return None
    listed = problems[:_MAX_LISTED_DIFFERENCES]
    more = len(problems) - len(listed)
    return "; ".join(listed) + (f"; and {more} more difference(s)" if more else "")


def _fmt_shape(shape: Any) -> str:
    return "?" if shape is None else str(tuple(int(d) for d in shape))


def _fmt_failures(failures: list[tuple[int, _Unusable]]) -> str:
    """'steps 4, 2: <reason>; step 1: <other reason>' (a config change fails all alike)."""
    by_reason: dict[str, list[int]] = {}
    for step, failure in failures:
        by_reason.setdefault(failure.reason, []).append(step)
    return "; ".join(
        f"step{'s' if len(steps) > 1 else ''} {_fmt_steps(steps)}: {reason}"
        for reason, steps in by_reason.items()
    )


def _fmt_steps(steps: list[int]) -> str:
    return ", ".join(str(s) for s in steps) if steps else "none"


def _short(e: BaseException, root: epath.Path | None = None, limit: int = 240) -> str:
    """One line of an exception: tensorstore errors append kilobytes of JSON spec, and name
    files by absolute path (made relative to ``root``, which the message names anyway)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = text.split(" [tensorstore_spec", 1)[0]
    if text.startswith("<bound method"):  # a pybind11 repr instead of the message
        text = ""
    if root is not None:
        text = text.replace(f"{root}/", "")
    if len(text) > limit:
        # Keep both ends: tensorstore puts the operation first and the OS's reason last
        # ("... No space left on device [os_error_code='28']").
        head = limit // 2
        text = text[:head] + " ... " + text[-(limit - head - 5) :]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _all_processes_agree(ok: bool) -> bool:
    """True iff ``ok`` on every process (trivially ``ok`` on a single host)."""
    if jax.process_count() == 1:
        return ok
    from jax.experimental import multihost_utils

    return bool(np.all(multihost_utils.process_allgather(np.asarray([ok], dtype=np.bool_))))


class _ReadFailureEcho:
    """Mutes the echo of failed orbax reads while restore() tries checkpoints.

    orbax reads all arrays concurrently and re-raises the first error. The sibling reads that
    failed the same way are reported again, with full tracebacks and kilobytes of tensorstore
    spec, by asyncio ("Task exception was never retrieved") and the interpreter ("Exception
    ignored in <coroutine ...>") when they are garbage collected, and tensorstore callbacks that
    complete after orbax closed its event loop raise "Event loop is closed" in a background
    thread. That buries the one-line warning restore() logs for the same failure. This mutes
    exactly those reports while restore() runs, and after a failed attempt collects the
    coroutines while everything is muted.
    """

    # After a failure, how long in-flight tensorstore callbacks get to arrive before unmuting.
    _SETTLE_SECONDS = 0.2

    def __init__(self):
        self._collecting = False
        self._failed = False
        self._asyncio_logger = py_logging.getLogger("asyncio")
        self._log_filter = py_logging.Filter()
        self._log_filter.filter = lambda r: "exception was never retrieved" not in r.getMessage()
        self._previous_hook = sys.unraisablehook

    def __enter__(self) -> _ReadFailureEcho:
        self._previous_hook = sys.unraisablehook
        sys.unraisablehook = self._hook
        self._asyncio_logger.addFilter(self._log_filter)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._failed:
            time.sleep(self._SETTLE_SECONDS)
            self.collect()
        self._asyncio_logger.removeFilter(self._log_filter)
        sys.unraisablehook = self._previous_hook

    def collect(self) -> None:
        self._failed = True
        self._collecting = True
        try:
            gc.collect()
        finally:
            self._collecting = False

    def _hook(self, unraisable: Any) -> None:
        late_callback = isinstance(unraisable.exc_value, RuntimeError) and (
            str(unraisable.exc_value) == "Event loop is closed"
        )
        if not (self._collecting or late_callback):
            self._previous_hook(unraisable)


class _BackgroundFailureCapture:
    """Keeps the failure of an async write that orbax's finalize thread logs and swallows.

    On the primary host ``CheckpointManager._finalize_checkpoint`` calls ``check_for_errors()``
    (which clears the error) and logs "Checkpointer failed ..." with the whole traceback; the
    step is then simply not finalized. This filter on absl's logger keeps that exception for
    ``Checkpointer.wait()``'s one-paragraph error and drops the traceback from the log.
    """

    def __init__(self):
        self._error: BaseException | None = None
        self.active = False  # only while a save is in flight: other logs pass untouched
        self._logger = py_logging.getLogger("absl")
        self._logger.addFilter(self._filter)
        _mute_late_loop_callbacks()

    def _filter(self, record: py_logging.LogRecord) -> bool:
        if not self.active:
            return True
        # orbax's threads log the same failure several times, each with its traceback.
        if record.exc_info and "orbax" in record.pathname:
            self._error = self._error or record.exc_info[1]
            return False
        if "_SignalingThread.run() raised an exception" in str(record.msg):
            return False
        return True

    def pending(self) -> bool:
        return self._error is not None

    def take(self) -> BaseException | None:
        error, self._error = self._error, None
        return error

    def remove(self) -> None:
        self._logger.removeFilter(self._filter)


def _is_late_loop_callback(exc: BaseException | None) -> bool:
    return isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed"


def _mute_late_loop_callbacks() -> None:
    """tensorstore callbacks that complete after orbax closed a failed write's event loop are
    reported as unraisable "Event loop is closed" tracebacks, one per array, possibly during
    interpreter shutdown; they say nothing the CheckpointError does not. Installed once per
    process (a hook that passes every other report on)."""
    previous = sys.unraisablehook
    if getattr(previous, "_gendl_mutes_late_callbacks", False):
        return

    def hook(unraisable):
        if not _is_late_loop_callback(unraisable.exc_value):
            previous(unraisable)

    hook._gendl_mutes_late_callbacks = True
    sys.unraisablehook = hook


# -- checksums -----------------------------------------------------------------------------------


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(os.fspath(path), "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksums(step_dir: epath.Path) -> None:
    """Records the size and SHA-256 of every file of a finalized step, atomically (a killed
    process leaves no checksum file, and such a step is restored unverified, as one written
    before gendl recorded checksums)."""
    step_dir = os.fspath(step_dir)
    files = {}
    for folder, _, names in sorted(os.walk(step_dir)):
        for name in sorted(names):
            path = os.path.join(folder, name)
            if name != CHECKSUMS_FILENAME and os.path.isfile(path):
                rel = os.path.relpath(path, step_dir)
                files[rel] = {"size": os.path.getsize(path), "sha256": _sha256(path)}
    record = json.dumps({"algorithm": "sha256", "files": files}, indent=1).encode()
    target = os.path.join(step_dir, CHECKSUMS_FILENAME)
    tmp = f"{target}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(record)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def verify_checksums(step_dir: epath.Path) -> str | None:
    """Why the step's files no longer match their recorded checksums, or None when they do
    (or when the step has no record: written before checksums or killed just before them)."""
    path = os.path.join(os.fspath(step_dir), CHECKSUMS_FILENAME)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            files = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"its checksum file {CHECKSUMS_FILENAME} is unreadable"
    for rel, want in sorted(files.items()):
        file = epath.Path(step_dir) / rel
        if not file.is_file():
            return f"its file {rel} is missing"
        size = os.path.getsize(os.fspath(file))
        if size != want.get("size"):
            return f"its file {rel} has {size} bytes, {want.get('size')} when it was written"
        if _sha256(file) != want.get("sha256"):
            return (
                f"its file {rel} no longer matches the SHA-256 recorded when it was written "
                "(flipped bytes: a disk, memory or copy fault, or an edit)"
            )
    return None
