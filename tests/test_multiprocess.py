"""Multi-process training through jax.distributed: 2 processes x 4 fake CPU devices on
loopback (collectives through gloo) against 1 process x 8 devices; resume across processes;
what the survivors do when a process dies."""

import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import xla_flags  # tests/xla_flags.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# WGAN-GP smoke, shrunk further: one critic step keeps the compile time of the 3 x 2 process
# starts in this module low; the multi-process code paths do not depend on it.
ARGS = [
    "--config=configs/wgan_gp.py:smoke",
    "--config.batch_size=16",
    "--config.model.dim=8",
    "--config.objective.n_critic=1",
    "--config.log.every_steps=1",
    "--config.log.sample_every_steps=2",
    "--config.checkpoint.every_steps=2",
]


@pytest.fixture(scope="module")
def env(subprocess_env):
    # 10 s: short enough that a dead process ends the others quickly, long enough that a
    # process merely slowed by a loaded CPU (compiling on 2 shared cores) is not taken for dead.
    return dict(subprocess_env, PYTHON=sys.executable, GENDL_HEARTBEAT_TIMEOUT="10")


def _devices(env, n):
    return dict(env, XLA_FLAGS=xla_flags.with_devices(n))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(workdir, args, env, n=2, logs=None):
    """Starts n processes of one job directly (not through launch/local.sh) to know their pids."""
    port, procs = _free_port(), []
    for i in range(n):
        e = dict(
            env,
            GENDL_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
            GENDL_NUM_PROCESSES=str(n),
            GENDL_PROCESS_ID=str(i),
        )
        log = open(logs[i], "w") if logs else subprocess.DEVNULL  # noqa: SIM115
        cmd = [sys.executable, "-m", "gendl.main", f"--workdir={workdir}", *args]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=e, stdout=log, stderr=log))
    return procs


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_two_processes_match_one_and_resume_across_processes(tmp_path, env):
    one = str(tmp_path / "one")
    r = subprocess.run(
        [sys.executable, "-m", "gendl.main", f"--workdir={one}", *ARGS, "--config.total_steps=4"],
        cwd=ROOT,
        env=_devices(env, 8),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]

    # First half, 2 processes x 4 devices, started directly to know process 0's pid.
    two = str(tmp_path / "two")
    logs = [str(tmp_path / f"p{i}.log") for i in range(2)]
    procs = _start(two, [*ARGS, "--config.total_steps=2"], _devices(env, 4), logs=logs)
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0], [open(f).read()[-2000:] for f in logs]
    # Only process 0 writes what humans read; the TensorBoard file name carries the pid.
    events = glob.glob(os.path.join(two, "events.out.tfevents.*"))
    assert [os.path.basename(f).split(".")[-2] for f in events] == [str(procs[0].pid)]
    assert "Process 1 of 2, 4 local / 8 global devices" in open(logs[1]).read()

    # Second half through the launcher: both processes restore the checkpoint together.
    r = subprocess.run(
        ["bash", "launch/local.sh", "2", f"--workdir={two}", *ARGS, "--config.total_steps=4"],
        cwd=ROOT,
        env=_devices(env, 4),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("Resumed from step 2") == 2  # once per process
    assert sorted(int(s) for s in os.listdir(os.path.join(two, "checkpoints"))) == [2, 4]
    assert len(glob.glob(os.path.join(two, "events.out.tfevents.*"))) == 2  # one per start

    ref, got = _metrics(one), _metrics(two)
    assert [m["step"] for m in got] == [m["step"] for m in ref] == [1, 2, 3, 4]
    for a, b in zip(ref, got, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(b[k], a[k], rtol=2e-4, atol=2e-5, err_msg=f"{k} {a}")


def test_a_dead_process_stops_the_others_with_an_error(tmp_path, env):
    workdir = str(tmp_path / "run")
    logs = [str(tmp_path / f"p{i}.log") for i in range(2)]
    args = [*ARGS, "--config.total_steps=100000", "--config.checkpoint.every_steps=1000"]
    procs = _start(workdir, args, _devices(env, 4), logs=logs)
    try:
        # Killed once both have joined and built the run (process 0 is about to compile or
        # train): the coordination service aborts the survivor whatever it is doing, inside
        # a collective included, so the test need not wait for compilation.
        deadline = time.time() + 300
        while not all("Devices: 8" in open(f).read() for f in logs):
            assert time.time() < deadline and procs[0].poll() is None, open(logs[0]).read()
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        killed = time.time()
        code = procs[0].wait(timeout=90)
        waited = time.time() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    # JAX's coordination service aborts the survivor once process 1 missed its heartbeats
    # (GENDL_HEARTBEAT_TIMEOUT=10 s here); gendl replaces JAX's abort report (C++ stack, Python
    # stacks, "Fatal Python error: Aborted") by one paragraph, written by the stderr filter
    # process a moment after the survivor itself is gone.
    assert code != 0
    line = "gendl: error: a peer process died: process 1 of this job stopped sending heartbeats"
    deadline = time.time() + 10
    while line not in (log := open(logs[0]).read()) and time.time() < deadline:
        time.sleep(0.1)
    assert line in log, log[-3000:]
    assert "run the same command again" in log, log[-3000:]
    for noise in ("Fatal Python error", "Traceback", "Check failure stack trace"):
        assert noise not in log, log[-3000:]
    assert not re.search(r"^[EF]\d{4} ", log, re.M), log[-3000:]  # no glog error/fatal line
    assert waited < 60, waited
