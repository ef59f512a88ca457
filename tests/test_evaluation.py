"""Evaluators in training and `python -m gendl.evaluate` on a trained workdir."""

import json
import os
import subprocess
import sys

import pytest
from test_configs import load

from gendl.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def vae_run(fake_data, tmp_path_factory):
    c = load("vae")
    c.total_steps, c.batch_size = 30, 16
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    workdir = str(tmp_path_factory.mktemp("vae_eval"))
    loop.train(c, workdir)
    return workdir


def test_evaluators_run_at_the_end_of_training(vae_run):
    with open(os.path.join(vae_run, "metrics.jsonl")) as f:
        last = json.loads(f.readlines()[-1])
    nll = next(v for k, v in last.items() if k.startswith("eval/likelihood/nll_k16_n64"))
    elbo = next(v for k, v in last.items() if k.startswith("eval/likelihood/test_elbo_n64"))
    # -log p(x) <= -ELBO: the importance-sampled estimate is a tighter bound.
    assert 0 < nll <= -elbo + 1.0
    for name in (
        "reconstruction_reconstructions",
        "pictures_prior_samples",
        "pictures_interpolations",
    ):
        assert os.path.exists(os.path.join(vae_run, "samples", f"{name}_00000030.png")), name


def test_evaluate_cli(vae_run, fake_data):
    env = dict(
        os.environ,
        GENDL_MANUAL_DIR=fake_data["manual_dir"],
        TFDS_DATA_DIR=fake_data["data_dir"],
        PYTHONPATH=ROOT,
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gendl.evaluate",
            f"--workdir={vae_run}",
            "--evals=likelihood",
            "--num_samples=32",
            "--num_examples=40",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["step"] == 30
    assert result["likelihood/nll_k32_n40"] > 0
    assert os.path.exists(os.path.join(vae_run, "eval_00000030.json"))


def test_evaluate_cli_without_a_run_says_what_to_do(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "gendl.evaluate", f"--workdir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "gendl.main" in r.stderr


def test_two_dimensional_latents_get_manifold_and_scatter(fake_data, tmp_path):
    c = load("vae")
    c.total_steps, c.batch_size = 2, 16
    c.model.latent_dim = 2
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    loop.train(c, str(tmp_path))
    for name in ("pictures_manifold", "pictures_latent_scatter"):
        assert os.path.exists(tmp_path / "samples" / f"{name}_00000002.png"), name


def test_one_class_anomaly_protocol(fake_data, tmp_path):
    from gendl import anomaly
    from gendl.config import ConfigError
    from gendl.evaluation import anomaly_scores

    c = load("vae")
    c.total_steps, c.batch_size = 3, 16
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    with pytest.raises(ConfigError, match="background_mutation_percent"):
        anomaly.run(c, str(tmp_path), ["3"], scores="neg_elbo,likelihood_ratio")
    results = anomaly.run(
        c, str(tmp_path), ["3"], num_samples=2, knn_k=2, background_mutation_percent=20
    )
    # Every score, the likelihood's among them, from the same trained model.
    assert sorted(results["auroc"]) == sorted(anomaly_scores.SCORES)
    for row in results["auroc"].values():
        assert 0.0 <= row["3"] <= 1.0 and row["mean"] == row["3"]
    # The held-out digit never reached training, nor the background model's.
    for run in ("heldout_3", "background_3"):
        with open(tmp_path / run / "config.json") as f:
            assert json.load(f)["data"]["exclude_labels"] == [3]
    with open(tmp_path / "background_3" / "config.json") as f:
        saved = json.load(f)
        assert saved["data"]["ops"] == ["mutate:20"] and saved["optimizer"]["weight_decay"] == 0
    assert json.load(open(tmp_path / "anomaly.json")) == results
    assert "| neg_elbo | " in anomaly.table(results)


def test_excluded_labels_never_appear_in_training_batches(fake_data):
    from gendl.training import experiment

    c = load("vae")
    c.batch_size = 16
    c.data.exclude_labels = (0, 1, 2)
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    exp = experiment.build(c)
    epoch = range(exp.batches.sampler.batches_per_epoch)
    labels = {int(y) for k in epoch for y in exp.batches.get(k)["label"].ravel()}
    assert labels and not labels & {0, 1, 2}
