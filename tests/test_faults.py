"""Fault injection: the trainer under the faults and mistakes of real use (issue 18).

Kept true here: one trainer per workdir (a second refuses naming the first; a SIGKILLed one
leaves no stale lock), kills at random moments resume bitwise, final evaluations survive
SIGTERM and resume, a full disk stops training with the last complete checkpoint, a damaged
checkpoint is never called good, wrong or damaged dataset files are refused, bad flags and
config files give one paragraph, files are group-readable under the umask, and a peer's
death in a multi-process run is one paragraph (the 2-process SIGKILL is in test_multiprocess).

Checkpoint damage of each kind is in tests/test_checkpointing.py (CORRUPTIONS, including
flipped bytes); SIGKILL at a chosen step and SIGTERM mid-training in tests/test_train.py and
tests/test_training_core.py. This module adds what those do not cover and reuses their helpers.
Most tests run the trainer in-process on a tiny VAE (compiled programs are shared); the
end-to-end test starts four processes and combines its assertions.
"""

import errno
import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

import idx_fixtures
import jax
import numpy as np
import pytest
import test_checkpointing
from test_training_core import small_vae

from gendl import checkpointing, cli
from gendl.checkpointing import CheckpointError
from gendl.data import builders, source
from gendl.data.errors import DataError
from gendl.evaluation import workdir as workdir_eval
from gendl.training import final_evals, loop, workdir_lock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def params_of(workdir):
    tree, step = checkpointing.read_tree(os.path.join(workdir, "checkpoints"))
    return step, jax.tree.leaves(tree)


def metrics_of(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


# --- One trainer per workdir.


def test_a_second_holder_is_refused_naming_host_and_pid(tmp_path):
    with workdir_lock.WorkdirLock(str(tmp_path), "gendl.main"):
        with pytest.raises(workdir_lock.WorkdirLocked) as err:
            workdir_lock.WorkdirLock(str(tmp_path), "gendl.main").acquire()
        assert workdir_lock.holder(str(tmp_path))["pid"] == os.getpid()
    msg = str(err.value)
    assert f"PID {os.getpid()} on host {socket.gethostname()}" in msg and "\n" not in msg
    # Released: the next one gets it, and nobody holds it meanwhile.
    assert workdir_lock.holder(str(tmp_path)) is None
    workdir_lock.WorkdirLock(str(tmp_path), "gendl.main").acquire()


def test_without_flock_a_dead_pid_on_this_host_is_stale_and_a_live_one_holds(tmp_path, monkeypatch):
    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(workdir_lock.fcntl, "flock", no_flock)
    path = tmp_path / workdir_lock.LOCK_FILENAME
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    host = socket.gethostname()
    path.write_text(json.dumps({"host": host, "pid": int(dead), "program": "gendl.main"}))
    lock = workdir_lock.WorkdirLock(str(tmp_path), "gendl.main")
    lock.acquire()  # the dead process's record is taken over
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()
    for record in ({"host": host, "pid": os.getppid()}, {"host": "elsewhere", "pid": 1}):
        path.write_text(json.dumps(record))
        with pytest.raises(workdir_lock.WorkdirLocked, match="does not support file locks"):
            workdir_lock.WorkdirLock(str(tmp_path), "gendl.main").acquire()


@pytest.mark.parametrize("held", [False, True])
def test_a_multi_process_job_locks_once_on_process_0_and_stops_alike(tmp_path, monkeypatch, held):
    """Process 1's view: it takes no lock itself and follows process 0's outcome."""
    from jax.experimental import multihost_utils

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(multihost_utils, "broadcast_one_to_all", lambda x: ~x if held else x)
    if held:
        with pytest.raises(workdir_lock.WorkdirLocked, match="Process 0 found the workdir"):
            workdir_lock.acquire_for_job(str(tmp_path), "gendl.main")
    else:
        assert workdir_lock.acquire_for_job(str(tmp_path), "gendl.main") is None
    assert not (tmp_path / workdir_lock.LOCK_FILENAME).exists()


# --- Final evaluations, damaged checkpoints, a full disk: the trainer in-process.


@pytest.fixture
def fake_final_evals(monkeypatch):
    """Three final evaluators that record their calls; `stop_at` sends SIGTERM from inside
    that one, as a scheduler would mid-evaluation."""
    calls, stop_at = [], []

    def run_one(self, name, step, params, writers):
        calls.append(name)
        if name in stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises long before this ends
        return {f"eval/{name}/value": float(len(name))}

    monkeypatch.setattr(loop._Evaluations, "final_names", lambda self: ["a", "bb", "ccc"])
    monkeypatch.setattr(loop._Evaluations, "run_one", run_one)
    return calls, stop_at


def test_sigterm_during_final_evaluations_then_rerun_finishes_them(
    fake_data, tmp_path, fake_final_evals
):
    calls, stop_at = fake_final_evals
    old_umask = os.umask(0o022)
    try:
        workdir = str(tmp_path / "run")
        config = small_vae(fake_data, total_steps=4)
        stop_at.append("bb")
        start = time.monotonic()
        with pytest.raises(loop.Preempted, match="during the final evaluations") as err:
            loop.train(config, workdir)
        assert time.monotonic() - start < 60  # not the 5 s sleep per evaluator
        assert "rest (bb, ccc)" in str(err.value)
        record = json.load(open(os.path.join(workdir, final_evals.FILENAME)))
        assert record["done"] == ["a"] and not record["complete"]
        assert "loss" in " ".join(record["scalars"])  # the last window's training metrics
        # The last line waits for the evaluations.
        assert all(m["step"] < 4 for m in metrics_of(workdir))

        calls.clear()
        stop_at.clear()
        loop.train(config, workdir)
        assert calls == ["bb", "ccc"]
        last = metrics_of(workdir)[-1]
        assert last["step"] == 4 and [m["step"] for m in metrics_of(workdir)].count(4) == 1
        assert last["eval/a/value"] == 1.0 and last["eval/ccc/value"] == 3.0
        assert any(k.startswith("loss") for k in last)
        calls.clear()
        loop.train(config, workdir)  # complete: nothing runs again
        assert calls == []

        # Files a team shares are group-readable (tempfile.mkstemp made them 0600).
        for folder, _, names in os.walk(workdir):
            for name in names:
                mode = os.stat(os.path.join(folder, name)).st_mode
                assert mode & 0o040, f"{name} is not group-readable: {oct(mode)}"

        # gendl.evaluate on a workdir a trainer holds: prints, writes nothing into it.
        with workdir_lock.WorkdirLock(workdir, "gendl.main"):
            result = workdir_eval.evaluate(workdir, names=[])
        assert result["step"] == 4 and not os.path.exists(
            os.path.join(workdir, "eval_00000004.json")
        )
        workdir_eval.evaluate(workdir, names=[])
        assert os.path.exists(os.path.join(workdir, "eval_00000004.json"))
    finally:
        os.umask(old_umask)


def test_invalid_config_creates_no_workdir_and_a_fresh_start_keeps_old_metrics(
    fake_data, tmp_path, caplog
):
    workdir = tmp_path / "run"
    with pytest.raises(loop.ConfigError, match="total_steps must be >= 1"):
        loop.train(small_vae(fake_data, total_steps=0), str(workdir))
    assert not workdir.exists()
    config = small_vae(fake_data, total_steps=2)
    config.log.every_steps = 1
    loop.train(config, str(workdir))
    before = (workdir / "metrics.jsonl").read_text()
    # Starting over as the all-checkpoints-corrupt error advises: move checkpoints/ away.
    shutil.move(str(workdir / "checkpoints"), str(tmp_path / "old_checkpoints"))
    config.seed = 1
    loop.train(config, str(workdir))
    kept = sorted(workdir.glob("metrics.before-*.jsonl"))
    assert len(kept) == 1 and kept[0].read_text() == before
    assert [m["step"] for m in metrics_of(str(workdir))] == [1, 2]
    assert not any("changed config" in r.getMessage() for r in caplog.records)


def test_preempted_maps_to_exit_143_and_user_errors_to_one_line(capsys):
    def preempted(argv):
        raise loop.Preempted("Stopped by SIGTERM during the final evaluations at step 4")

    assert cli.call(preempted, []) == cli.PREEMPTED_EXIT_CODE == 143
    assert cli.call(lambda argv: (_ for _ in ()).throw(CheckpointError("x y")), []) == 1
    assert capsys.readouterr().err.count("\n") == 2


# What JAX 0.10 writes when a peer dies (abridged from real runs): the heartbeat case on the
# coordinator's side, the coordinator's death on another process's side.
_HEARTBEATS = b"""E1202 12:34:02.956281   31473 coordination_service.cc:1549] [9109] Use error \
polling to propagate the following error to all tasks: UNAVAILABLE: The following tasks are \
unhealthy (stopped sending heartbeats):
1
The tasks have crashed.
E1202 12:34:02.956800   31484 coordination_service_agent.cc:289] Polled an error from \
coordination service
"""
_LEADER = b"""W1202 12:35:27.410530   32114 preemption_sync_manager.cc:147] Failed to retrieve \
preemption notice
E1202 12:35:27.410699   32114 coordination_service_agent.cc:289] Polled an error from \
coordination service
Failed to send RPC to coordination service. Either the leader task was preempted/died
"""
_ABORT = b"""F1202 12:35:27.410706   32114 client.h:80] Terminating process because the JAX \
distributed service detected fatal errors. This most likely indicates that another task died.
*** Check failure stack trace: ***
    @     0x7fe408c40634  absl::lts_20260107::log_internal::LogMessage::SendToLog()
Fatal Python error: Aborted

Thread 0x00007fe3 (most recent call first):
  File "gendl/training/loop.py", line 1 in train
"""


def _filtered(data):
    from gendl.parallel import peer_death

    (src_r, src_w), (out_r, out_w) = os.pipe(), os.pipe()
    os.write(src_w, data)
    os.close(src_w)
    peer_death._filter(src_r, out_w)
    os.close(out_w)
    with os.fdopen(out_r, "rb") as f:
        return f.read().decode()


@pytest.mark.parametrize(
    "report, who",
    [
        (_HEARTBEATS, "a peer process died: process 1 of this job stopped sending heartbeats"),
        (
            _LEADER,
            "a peer process died: process 0 of this job (the coordinator) could not be reached",
        ),
        (
            b"E1202 12:35:27.4   32114 coordination_service_agent.cc:289] Polled an error\n"
            b"F1202 12:35:27.5   32114 client.h:80] absl::Status: DEADLINE_EXCEEDED: Barrier\n",
            "the multi-process job broke down (JAX: DEADLINE_EXCEEDED: Barrier); if a process "
            "was only slow, raise GENDL_HEARTBEAT_TIMEOUT",
        ),
    ],
)
def test_a_peers_death_becomes_one_paragraph_and_other_output_passes_unchanged(report, who):
    before = b"I1202 12:34:00.1 gendl step 3\n"
    out = _filtered(before + report + _ABORT)
    assert out.startswith(before.decode())
    rest = out[len(before) :]
    assert rest.startswith(f"gendl: error: {who}, so this process stops")
    assert rest.endswith(".\n") and rest.count("\n") == 1 and "same command again" in rest
    # A coordination-service report that is not followed by JAX's abort is passed on as it was,
    # an unfinished last line included.
    assert _filtered(before + report + b"tail") == (before + report + b"tail").decode()


def test_nan_after_falling_back_past_a_damaged_checkpoint_names_the_good_one(fake_data, tmp_path):
    workdir = str(tmp_path / "nan")
    config = small_vae(fake_data, total_steps=3)
    config.checkpoint.every_steps = 1
    loop.train(config, workdir)
    ckpt_dir = tmp_path / "nan" / "checkpoints"
    test_checkpointing.flip_bytes(
        max(test_checkpointing.data_files(ckpt_dir / "3"), key=os.path.getsize)
    )
    config.total_steps, config.optimizer.learning_rate = 10, 1e30
    with pytest.raises(loop.NonFiniteLossError) as err:
        loop.train(config, workdir)
    # Step 3's flipped bytes were caught at restore: training went on from step 2.
    assert "last good checkpoint is step 2" in str(err.value)
    assert "match their checksums" in str(err.value)


def test_full_disk_during_training_stops_at_once_with_the_last_complete_checkpoint(
    fake_data, tmp_path, monkeypatch
):
    from orbax.checkpoint._src.serialization import serialization

    real, writes = serialization.async_serialize_from_host, []

    async def fills_the_disk(*args, **kwargs):
        writes.append(1)
        if len(writes) > 40:  # the first checkpoint (a few dozen arrays) fits
            raise ValueError(
                "RESOURCE_EXHAUSTED: Failed to write 4096 bytes to file 7: No space left on "
                "device [os_error_code='28']"
            )
        return await real(*args, **kwargs)

    monkeypatch.setattr(serialization, "async_serialize_from_host", fills_the_disk)
    workdir = str(tmp_path / "full")
    config = small_vae(fake_data, total_steps=40)
    config.checkpoint.every_steps = 2
    config.log.every_steps = 1
    with pytest.raises(CheckpointError) as err:
        loop.train(config, workdir)
    msg = str(err.value)
    assert "No space left on device" in msg and "\n" not in msg
    assert "latest complete checkpoint is step 2" in msg
    # Stopped at once: not trained on to the end; nothing half-written left as "latest".
    assert metrics_of(workdir)[-1]["step"] < 8
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2"]
    monkeypatch.undo()
    assert params_of(workdir)[0] == 2


# --- Dataset files.


def test_a_changed_byte_in_an_unlisted_original_name_is_refused(tmp_path):
    manual = idx_fixtures.write_idx_dataset(tmp_path / "manual", "mnist", n_train=10, n_test=5)
    folder = manual / "mnist"
    (folder / idx_fixtures.UNOFFICIAL_LIST).unlink()  # as a user's folder: no list
    kwargs = dict(manual_dir=manual, data_dir=tmp_path / "tfds")
    with pytest.raises(DataError, match="not the original MNIST file") as err:
        source.load_split("mnist", "train", **kwargs)
    assert "gendl-unofficial-sha256.txt" in str(err.value)
    idx_fixtures.list_unofficial(folder)
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-1] + b"\x07"))
    with pytest.raises(DataError, match="changed since it was listed"):
        source.load_split("mnist", "train", **kwargs)
    assert not (tmp_path / "tfds" / "gendl" / "mnist" / "1.0.0").exists()


def test_changed_source_files_are_prepared_again(tmp_path, caplog):
    manual, tfds_dir = tmp_path / "manual", tmp_path / "tfds"
    idx_fixtures.write_idx_dataset(manual, "mnist", n_train=12, n_test=4, seed=0)
    first, _ = source.load_split("mnist", "train", manual_dir=manual, data_dir=tfds_dir)
    record = tfds_dir / "gendl" / "mnist" / "1.0.0" / source.SOURCES_FILENAME
    recorded = json.loads(record.read_text())["files"]
    assert sorted(recorded) == sorted(n for pair in idx_fixtures.IDX_FILES.values() for n in pair)
    idx_fixtures.write_idx_dataset(manual, "mnist", n_train=12, n_test=4, seed=1)
    again, _ = source.load_split("mnist", "train", manual_dir=manual, data_dir=tfds_dir)
    expected = idx_fixtures.fake_idx_arrays(12, 4, seed=1)["train"][0]
    np.testing.assert_array_equal(again[..., 0], expected)
    assert not np.array_equal(first, again)
    assert any("preparing it again" in r.getMessage() for r in caplog.records)


def test_real_files_match_the_published_checksums_and_fashion_under_mnist_is_refused(
    real_manual_dir, tmp_path
):
    for name in ("mnist", "fashion_mnist"):
        folder = os.path.join(real_manual_dir, name)
        names = builders.MnistBuilder.file_names().values()
        builders.verify_originals(name, [os.path.join(folder, n) for n in names])
    wrong = tmp_path / "manual" / "mnist"
    shutil.copytree(os.path.join(real_manual_dir, "fashion_mnist"), wrong)
    with pytest.raises(DataError) as err:
        source.load_split("mnist", "train", manual_dir=wrong.parent, data_dir=tmp_path / "t")
    msg = str(err.value)
    assert "is Fashion-MNIST's original" in msg and "fashion_mnist/" in msg and "\n" not in msg


# --- Bad flags and config files: one paragraph each, no traceback.


def test_bad_flags_and_broken_config_files_give_one_paragraph(tmp_path, subprocess_env):
    broken = tmp_path / "broken.py"
    broken.write_text("import ml_collections\n\n\ndef get_config(arg=None):\n    return (1,\n")
    misnamed = tmp_path / "misnamed.py"
    misnamed.write_text("def get_config(arg=None):\n    return undefined_name\n")
    commands = {
        "--batch_size=0": ["gendl.sample", "--workdir=w", "--out=x.npz", "--batch_size=0"],
        "--num_samples=-1": ["gendl.evaluate", "--workdir=w", "--num_samples=-1"],
        "line 5: SyntaxError": ["gendl.main", f"--config={broken}", f"--workdir={tmp_path}/a"],
        "line 2: NameError": ["gendl.main", f"--config={misnamed}", f"--workdir={tmp_path}/b"],
    }
    procs = {
        expected: subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=subprocess_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for expected, args in commands.items()
    }
    for expected, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err
        assert expected in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(tmp_path / "a")  # no workdir for a config that did not load


# --- End to end: two trainers, a SIGKILL at a random moment, a stale lock, bitwise resume.


def test_two_trainers_then_a_kill_at_a_random_moment_then_resume_is_bitwise(
    tmp_path, subprocess_env
):
    args = [
        "--config=configs/vae.py:smoke",
        "--config.batch_size=16",
        "--config.total_steps=60",
        "--config.checkpoint.every_steps=10",
        "--config.log.every_steps=10",
    ]

    def start(workdir, stderr=subprocess.PIPE):
        return subprocess.Popen(
            [sys.executable, "-m", "gendl.main", f"--workdir={workdir}", *args],
            cwd=ROOT,
            env=subprocess_env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = start(straight)
    log = tmp_path / "first.log"
    with open(log, "w") as first_stderr:
        first = start(killed, first_stderr)
    # Once the first trainer holds the workdir ("Devices:" is logged under the lock), it is
    # paused while a second terminal tries the same workdir: a smoke run can finish in less
    # time than a second `python -m gendl.main` takes to start.
    deadline = time.time() + 300
    while "Devices:" not in log.read_text():
        assert first.poll() is None and time.time() < deadline, log.read_text()[-3000:]
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)
    try:
        second = start(killed)
        _, err = second.communicate(timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 1, err[-3000:]
    assert f"in use by gendl.main with PID {first.pid} on host {socket.gethostname()}" in err
    assert "Traceback" not in err

    while not (killed / "checkpoints" / "10").is_dir() and time.time() < deadline:
        assert first.poll() is None, log.read_text()[-3000:]
        time.sleep(0.02)
    moment = random.Random().uniform(0.0, 0.5)
    print(f"SIGKILL {moment:.3f} s after the first checkpoint")  # shown when the test fails
    time.sleep(moment)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert reference.wait(timeout=300) == 0, reference.stderr.read()[-3000:]

    resumed = start(killed)  # the SIGKILLed trainer's lock is no obstacle
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert "Resumed from step" in err or "Starting from scratch" not in err
    (step_a, a), (step_b, b) = params_of(straight), params_of(killed)
    assert step_a == step_b == 60
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert [m["step"] for m in metrics_of(killed)] == [m["step"] for m in metrics_of(straight)]


def test_a_collective_that_lost_its_peer_is_one_paragraph_not_a_traceback(capsys):
    """On CPU a gloo collective whose peer died raises at once (before the coordination
    service's abort): `cli.call` turns exactly that error into one paragraph; any other
    runtime error still propagates."""
    import jax

    from gendl import cli

    def lost(argv):
        raise jax.errors.JaxRuntimeError(
            "UNKNOWN: Gloo AllGather failed: [external/gloo/gloo/transport/tcp/pair.cc:538] "
            "Read error [127.0.0.1]:19335: Connection reset by peer"
        )

    assert cli.call(lost, [], "gendl.main") == 1
    err = capsys.readouterr().err
    assert err.startswith("gendl.main: error: a collective operation lost its connection")
    assert "Gloo AllGather failed" in err and "same command again" in err
    assert err.count("\n") == 1 and "Traceback" not in err

    def other(argv):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: out of memory")

    with pytest.raises(jax.errors.JaxRuntimeError, match="RESOURCE_EXHAUSTED"):
        cli.call(other, [], "gendl.main")
