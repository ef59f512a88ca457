"""End-to-end runs of `python -m gendl.main`: outputs, resume (also after SIGKILL), errors."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
import xla_flags  # tests/xla_flags.py

from gendl import checkpointing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def env(subprocess_env):
    return subprocess_env


WGAN_SMOKE = ["--config=configs/wgan_gp.py:smoke", "--config.batch_size=16", "--config.model.dim=8"]
VAE_SMOKE = ["--config=configs/vae.py:smoke", "--config.batch_size=16"]


def main_cmd(workdir, args):
    return [sys.executable, "-m", "gendl.main", f"--workdir={workdir}", *args]


def run_main(workdir, args, env, timeout=600):
    return subprocess.run(
        main_cmd(workdir, args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def steps_in(workdir):
    return sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit())


def metric_steps(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f]


def final_params(workdir):
    """The latest checkpoint's state as host arrays, read in this process: a fresh process
    restoring through the run's own path cost ~8 s of imports and compilation per call, and
    the resumed runs of these tests already restore that way."""
    tree, _ = checkpointing.read_tree(os.path.join(workdir, "checkpoints"))
    return jax.tree.leaves(tree)


def test_main_writes_outputs_then_continues(tmp_path, env):
    workdir = str(tmp_path / "run")
    r = run_main(workdir, [*WGAN_SMOKE, "--config.total_steps=10"], env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert steps_in(workdir)[-1] == 10
    assert metric_steps(workdir) == [5, 10]
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        first = json.loads(f.readline())
    for key in (
        "loss/critic",
        "loss/generator",
        "wasserstein",
        "gp",
        "grad_norm/critic",
        "grad_norm/generator",
    ):
        assert np.isfinite(first[key]), key
    assert glob.glob(os.path.join(workdir, "events.out.tfevents.*"))
    assert os.path.exists(os.path.join(workdir, "samples", "samples_00000010.png"))
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["total_steps"] == 10
    assert "steps/s" in r.stderr and "ETA" in r.stderr

    r = run_main(workdir, [*WGAN_SMOKE, "--config.total_steps=20"], env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Resumed from step 10" in r.stderr
    assert steps_in(workdir)[-1] == 20
    assert metric_steps(workdir) == [5, 10, 15, 20]


def test_resume_after_sigkill_is_bitwise_exact(tmp_path, env):
    n = 40
    args = [
        *WGAN_SMOKE,
        f"--config.total_steps={n}",
        f"--config.checkpoint.every_steps={n // 2}",
        "--config.log.every_steps=10",
    ]
    straight = str(tmp_path / "straight")
    r = run_main(straight, args, env)
    assert r.returncode == 0, r.stderr[-3000:]

    killed = str(tmp_path / "killed")
    proc = subprocess.Popen(
        main_cmd(killed, args),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = os.path.join(killed, "checkpoints", str(n // 2))
    deadline = time.time() + 300
    while not os.path.isdir(ckpt) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.isdir(ckpt), "the run never reached its mid-way checkpoint"
    # If the process had already finished the test would prove nothing.
    assert n not in steps_in(killed), "process reached the end before it was killed"

    r = run_main(killed, args, env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Resumed from step {n // 2}" in r.stderr
    a, b = final_params(straight), final_params(killed)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert metric_steps(killed) == metric_steps(straight)


def test_eight_devices_give_the_same_losses_as_one(env):
    script = (
        "import json, sys, jax\n"
        "from gendl.training import experiment\n"
        "sys.path.insert(0, 'configs'); import wgan_gp\n"
        "c = wgan_gp.get_config('smoke'); c.batch_size = 16; c.model.dim = 8\n"
        "exp = experiment.build(c)\n"
        "state = exp.init_state(); out = []\n"
        "for step in range(3):\n"
        "    state, m = exp.train_step(state, exp.batch(step))\n"
        "    out.append(dict(zip(exp.metric_names, map(float, m))))\n"
        "print(json.dumps({'devices': jax.device_count(), 'metrics': out}))\n"
    )

    def run(devices):
        e = dict(env, XLA_FLAGS=xla_flags.with_devices(devices))
        r = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=e,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout.strip().splitlines()[-1])

    one, eight = run(1), run(8)
    assert (one["devices"], eight["devices"]) == (1, 8)
    for m1, m8 in zip(one["metrics"], eight["metrics"], strict=True):
        assert m1.keys() == m8.keys()
        for k in m1:
            np.testing.assert_allclose(m8[k], m1[k], rtol=2e-4, atol=2e-5, err_msg=k)


def test_vae_trains_through_the_same_loop(tmp_path, env):
    workdir = str(tmp_path / "vae")
    r = run_main(workdir, [*VAE_SMOKE, "--config.total_steps=30"], env)
    assert r.returncode == 0, r.stderr[-3000:]
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert rows[-1]["step"] == 30
    assert rows[-1]["loss/vae"] < rows[0]["loss/vae"]  # it learns


def test_misspelled_config_key_fails_clearly(tmp_path, env):
    r = run_main(str(tmp_path / "x"), [*VAE_SMOKE, "--config.batchsize=3"], env)
    assert r.returncode != 0
    assert "batchsize" in r.stderr
    assert "Traceback" not in r.stderr
    assert not os.path.exists(tmp_path / "x" / "checkpoints")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, env):
    workdir = str(tmp_path / "nan")
    args = [*WGAN_SMOKE, "--config.checkpoint.every_steps=1"]
    assert run_main(workdir, [*args, "--config.total_steps=3"], env).returncode == 0
    before = final_params(workdir)
    # A learning rate this large overflows the parameters within a step or two.
    r = run_main(
        workdir, [*args, "--config.total_steps=10", "--config.optimizer.learning_rate=1e30"], env
    )
    assert r.returncode == 1, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert "became" in r.stderr and "at step" in r.stderr
    # The first resumed step already overflows, so nothing after step 3 may have been saved,
    # and step 3's checkpoint must be untouched.
    assert steps_in(workdir)[-1] == 3
    assert "last good checkpoint is step 3" in r.stderr
    after = final_params(workdir)
    for x, y in zip(before, after, strict=True):
        np.testing.assert_array_equal(x, y)


def test_corrupt_latest_checkpoint_falls_back_to_previous(tmp_path, env):
    workdir = str(tmp_path / "corrupt")
    args = [*VAE_SMOKE, "--config.total_steps=10", "--config.checkpoint.every_steps=5"]
    assert run_main(workdir, args, env).returncode == 0
    assert steps_in(workdir)[-2:] == [5, 10]
    # Truncate every data file of the latest checkpoint.
    for path in glob.glob(os.path.join(workdir, "checkpoints", "10", "**", "*"), recursive=True):
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
    r = run_main(
        workdir, [*VAE_SMOKE, "--config.total_steps=15", "--config.checkpoint.every_steps=5"], env
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Resumed from step 5" in r.stderr
    assert "Checkpoint at step 10" in r.stderr
    assert "falling back to the previous checkpoint (step 5)" in r.stderr


def test_missing_data_fails_clearly(tmp_path, env):
    e = dict(env, GENDL_MANUAL_DIR=str(tmp_path / "empty"), TFDS_DATA_DIR=str(tmp_path / "tfds"))
    os.makedirs(tmp_path / "empty")
    r = run_main(str(tmp_path / "x"), VAE_SMOKE, e, timeout=300)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "GENDL_MANUAL_DIR" in r.stderr and "internet" in r.stderr.lower()


def test_real_mnist_smoke_run(tmp_path, env, real_manual_dir):
    e = dict(env, GENDL_MANUAL_DIR=real_manual_dir, TFDS_DATA_DIR=str(tmp_path / "tfds"))
    workdir = str(tmp_path / "real")
    r = run_main(workdir, [*WGAN_SMOKE, "--config.total_steps=4", "--config.log.every_steps=2"], e)
    assert r.returncode == 0, r.stderr[-3000:]
    assert metric_steps(workdir) == [2, 4]


def test_sigterm_checkpoints_then_resumes(tmp_path, env):
    # A relative --workdir, as in the README's command (Orbax itself needs absolute paths).
    workdir, config = "term", f"--config={ROOT}/configs/vae.py:smoke"
    args = [
        config,
        "--config.batch_size=16",
        "--config.total_steps=1000000",
        "--config.checkpoint.every_steps=100000",
    ]
    proc = subprocess.Popen(
        main_cmd(workdir, args),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    workdir = str(tmp_path / workdir)
    metrics = os.path.join(workdir, "metrics.jsonl")
    deadline = time.time() + 300
    # Wait until training is under way (a logged step), so SIGTERM lands mid-training.
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(metrics) and os.path.getsize(metrics) > 0:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-3000:]
    assert "Rerun the same command" in err
    saved = steps_in(workdir)
    assert saved and 0 < saved[-1] < 1000000  # saved where it stopped, not on schedule
    assert metric_steps(workdir)[-1] == saved[-1]  # the partial window was written too
    r = run_main(workdir, [*VAE_SMOKE, f"--config.total_steps={saved[-1] + 5}"], env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Resumed from step {saved[-1]}" in r.stderr
