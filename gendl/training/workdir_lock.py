"""One writer per workdir: a lock file that names the process holding it.

Two trainers on one workdir (a second terminal, a resubmitted job) would interleave
``metrics.jsonl`` and overwrite each other's checkpoints without a word. The trainer and
``gendl.evaluate`` (which writes ``eval_<step>.json`` into the workdir) therefore hold
``<workdir>/.gendl.lock`` while they write.

The lock is an ``fcntl.flock`` on that file, which the kernel releases when the holder exits in
any way, SIGKILL and crashes included: a stale lock cannot block a resume. The file's content
(host, PID, program, start time) is only there to name the holder in the refusal. On a
filesystem without working ``flock`` (some network or FUSE mounts), the content is the lock: a
PID on this host that is no longer alive is taken over as stale; a holder on another host is
trusted until its line is removed by hand (the message says so).

In a multi-process job only process 0 takes the lock; ``acquire_for_job`` shares its outcome,
so every process stops alike when the workdir is taken.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time

import jax
import numpy as np

from gendl.config import ConfigError

LOCK_FILENAME = ".gendl.lock"


class WorkdirLocked(ConfigError):
    """Another live process holds the workdir; the message names it and what to do."""

    def __init__(self, message: str, holder: str = "another process"):
        super().__init__(message)
        self.holder = holder  # e.g. "gendl.main with PID 12 on host h (started ...)"


class WorkdirLock:
    """Holds ``<workdir>/.gendl.lock`` from ``acquire()`` until ``release()`` or process exit."""

    def __init__(self, workdir: str, program: str):
        self.workdir = os.path.abspath(workdir)
        self.path = os.path.join(self.workdir, LOCK_FILENAME)
        self.program = program
        self._fd: int | None = None

    def acquire(self) -> None:
        """Takes the lock or raises WorkdirLocked naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                # flock is not supported here: fall back to the PID written in the file.
                holder = _read_holder(fd)
                if holder is not None and _alive_elsewhere(holder):
                    os.close(fd)
                    message = self._refusal(holder, flock=False)
                    raise WorkdirLocked(message, _describe(holder)) from None
            else:
                holder = _read_holder(fd)
                os.close(fd)
                raise WorkdirLocked(self._refusal(holder, flock=True), _describe(holder)) from None
        self._fd = fd
        record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "program": self.program,
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)

    def release(self) -> None:
        """Empties the file (the holder is gone) and unlocks. The file itself stays: deleting
        it could let two later processes lock two different files of the same name."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        os.close(self._fd)  # closing releases the flock
        self._fd = None

    def __enter__(self) -> WorkdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _refusal(self, holder: dict | None, *, flock: bool) -> str:
        who = _describe(holder)
        advice = (
            "Wait for it to finish (or stop it) before starting another, or pass a different "
            "--workdir for a separate run."
        )
        if not flock:
            advice += (
                f" This filesystem does not support file locks, so gendl relies on the PID in "
                f"{self.path}: if that process is gone, delete the file."
            )
        return (
            f"The workdir {self.workdir} is in use by {who}: two processes writing one workdir "
            f"would interleave its metrics and overwrite each other's checkpoints. {advice} "
            "Reading it meanwhile is fine (gendl.sample; gendl.evaluate prints its figures "
            "without writing them into the workdir)."
        )


def acquire_for_job(workdir: str, program: str) -> WorkdirLock | None:
    """Process 0 takes the lock for the whole job; every process raises alike if it is held.
    Returns the held lock on process 0, None on the others."""
    lock, refusal = None, None
    if jax.process_index() == 0:
        lock = WorkdirLock(workdir, program)
        try:
            lock.acquire()
        except WorkdirLocked as e:
            lock, refusal = None, str(e)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        ok = np.asarray([refusal is None], np.bool_)
        if not bool(multihost_utils.broadcast_one_to_all(ok)[0]):
            refusal = refusal or (
                f"Process 0 found the workdir {os.path.abspath(workdir)} in use by another "
                "process (its own error names it); this process stops too."
            )
    if refusal is not None:
        raise WorkdirLocked(refusal)
    return lock


def holder(workdir: str) -> dict | None:
    """Who holds the workdir's lock now (host, pid, program), or None when nobody does."""
    path = os.path.join(os.path.abspath(workdir), LOCK_FILENAME)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return _read_holder(fd) or {}
            found = _read_holder(fd)  # no flock here: trust a live PID
            return found if found is not None and _alive_elsewhere(found) else None
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int) -> dict | None:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        record = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive_elsewhere(record: dict) -> bool:
    """Whether the recorded holder may still run: a live other PID on this host, or any PID
    on another host (whose liveness this host cannot see)."""
    if record.get("host") != socket.gethostname():
        return True
    pid = record.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(record: dict | None) -> str:
    if not record:
        return "another process (it has not written its name yet)"
    return (
        f"{record.get('program', 'a gendl process')} with PID {record.get('pid', '?')} on host "
        f"{record.get('host', '?')} (started {record.get('started', '?')})"
    )


def program_name() -> str:
    """The running command, e.g. 'gendl.main', for the lock file."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(spec, "name", None) or os.path.basename(sys.argv[0] or "python")
