"""One gendl paragraph, instead of JAX's abort, when a peer process of a multi-process job dies.

JAX's coordination service ends the survivors of a dead process by aborting them from a C++
thread (glog FATAL, then SIGABRT): a C++ stack, faulthandler's Python stacks and "Fatal Python
error: Aborted". JAX 0.10 offers no way to turn that into a Python exception: the client's
`missed_heartbeat_callback` cannot be used from Python (calling it terminates with
std::bad_cast) and jax.distributed.initialize does not expose it.

So the process's stderr goes through a small filter process, forked before the JAX backend
exists: it passes every line on unchanged until the coordination service reports an error,
then holds the rest back. If the process then dies of JAX's abort, the held-back wall is
replaced by one paragraph naming the dead process; otherwise it is passed on as it was. The
process keeps its pid, its signals and its exit code (134, SIGABRT's).
"""

import os
import re
import signal
import sys

# The first line of JAX's report: a glog warning/error/fatal line about the coordination service.
_REPORT_START = re.compile(
    rb"^[WEF]\d{4} [\d:.]+\s+\d+ (coordination_service|preemption_sync_manager|client\.h)"
)
_ABORT = b"Terminating process because the JAX distributed service detected fatal errors"
_UNHEALTHY = re.compile(rb"unhealthy \(stopped sending heartbeats\):\s*\n((?:\s*\d+\s*\n)+)")
_LEADER_GONE = b"Failed to send RPC to coordination service"
_STATUS = re.compile(rb"absl::Status: ([^\n]*)")


def install() -> None:
    """Routes this process's stderr (fd 2) through the filter; call before JAX starts threads."""
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # the filter: reads until every writer (the trainer) is gone
        os.close(write_end)
        os.close(0)
        os.close(1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # lives exactly as long as the trainer
        try:
            _filter(read_end, 2)
        finally:
            os._exit(0)
    os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)


def _filter(source: int, sink: int) -> None:
    held, pending = None, b""
    while chunk := os.read(source, 65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line += b"\n"
            if held is None and _REPORT_START.match(line):
                held = b""
            if held is None:
                _write(sink, line)
            else:
                held += line
    held = (held or b"") + pending
    _write(sink, message(held).encode() + b"\n" if _ABORT in held else held)


def message(report: bytes) -> str:
    """The paragraph that replaces JAX's abort report."""
    unhealthy = _UNHEALTHY.search(report)
    if unhealthy:
        ids = ", ".join(unhealthy.group(1).decode().split())
        what = f"a peer process died: process {ids} of this job stopped sending heartbeats"
    elif _LEADER_GONE in report:
        what = "a peer process died: process 0 of this job (the coordinator) could not be reached"
    else:  # not a death we recognise: keep JAX's own reason (e.g. a timeout under heavy load)
        status = _STATUS.search(report)
        reason = status.group(1).decode(errors="replace").strip()[:300] if status else "unknown"
        what = (
            f"the multi-process job broke down (JAX: {reason}); if a process was only slow, "
            "raise GENDL_HEARTBEAT_TIMEOUT"
        )
    return (
        f"gendl: error: {what}, so this process stops too (JAX's coordination service ends the "
        "survivors). See the other processes' output for why. Checkpoints written so far are "
        "intact: run the same command again (all processes) to resume from the latest one."
    )


# A collective (gloo on CPU) whose peer went away fails at once with a Python exception,
# before the coordination service notices the missed heartbeats and aborts the process.
_LOST_PEER = re.compile(
    r"Gloo \w+ failed.*(Connection reset by peer|Connection closed by peer|Read error|"
    r"Write error|Socket closed|Broken pipe)",
    re.DOTALL,
)


def lost_peer(error: BaseException) -> bool:
    """Whether `error` is a collective that lost its connection to a peer process."""
    return bool(_LOST_PEER.search(str(error)))


def lost_peer_message(error: BaseException) -> str:
    """The paragraph for `lost_peer` errors (the abort's paragraph follows it if it comes)."""
    first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    return (
        "a collective operation lost its connection to a peer process, which has probably "
        f"died (JAX: {first_line}). See the other processes' output for why. Checkpoints "
        "written so far are intact: run the same command again (all processes) to resume "
        "from the latest one."
    )


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
