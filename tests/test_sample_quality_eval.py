"""The sample-quality evaluator end to end on tiny runs: a classifier trained by gendl, a
generative checkpoint scored by gendl.evaluate, samples exported by gendl.sample.

The generative run is a conditional VAE (it compiles in a second, where WGAN-GP's train step
takes many; conditional, so labels and label accuracy are covered too); the evaluator only
uses `objective.sample`, so this is the code path a GAN run takes."""

import json
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from test_configs import load

from gendl.config import ConfigError
from gendl.evaluation import extractors
from gendl.evaluation.workdir import evaluate, export_npz, format_table
from gendl.training import loop


def _data(c, fake_data):
    c.data.manual_dir = fake_data["manual_dir"]
    c.data.data_dir = fake_data["data_dir"]
    return c


@pytest.fixture(scope="module")
def runs(fake_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    clf = _data(load("classifier"), fake_data)
    clf.total_steps, clf.batch_size = 4, 16
    result = loop.train(clf, str(root / "classifier"))
    assert result["step"] == 4

    gen = _data(load("cvae"), fake_data)
    gen.total_steps, gen.batch_size = 2, 8
    gen.evals = ml_collections.ConfigDict()
    gen.evals.sample_quality = dict(
        type="sample_quality",
        every_steps=-1,
        num_samples=40,
        batch_size=16,
        kid_subsets=5,
        is_splits=2,
        classifier_workdir=str(root / "classifier"),
    )
    loop.train(gen, str(root / "gen"))
    return root


def test_classifier_run_reports_accuracy(runs):
    lines = [json.loads(x) for x in open(runs / "classifier" / "metrics.jsonl")]
    assert all(0.0 <= x["accuracy"] <= 1.0 for x in lines if "accuracy" in x)
    final = lines[-1]
    assert 0.0 <= final["eval/accuracy/test_accuracy_n64"] <= 1.0


def test_evaluate_scores_a_gan_checkpoint_and_caches_reference(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENDL_CACHE_DIR", str(tmp_path))
    result = evaluate(str(runs / "gen"))
    tag = "sample_quality/{}/classifier/40"
    assert result["step"] == 2
    for key in ("fid", "kid", "precision", "recall"):
        assert np.isfinite(result[f"{tag.format(key)}/test"]), key
    assert result[tag.format("fid") + "/test"] >= 0
    assert 1.0 <= result[tag.format("is")] <= 10.0
    assert 1 <= result[tag.format("classes_present")] <= 10
    assert 0.0 <= result[tag.format("label_accuracy")] <= 1.0
    assert os.path.exists(runs / "gen" / "eval_00000002.json")
    cached = os.listdir(tmp_path / "reference")
    assert len(cached) == 1 and cached[0].startswith("mnist_test_classifier_")

    # A second evaluation reads the cached reference features: only the 40 generated images
    # go through the extractor.
    seen = []
    original = extractors.Extractor.__call__

    def spy(self, images):
        seen.append(len(images))
        return original(self, images)

    monkeypatch.setattr(extractors.Extractor, "__call__", spy)
    again = evaluate(str(runs / "gen"))
    assert sum(seen) == 40
    assert again == result  # fixed noise and seeds: the same figures
    table = format_table(result)
    assert any(line.startswith(tag.format("fid")) for line in table.splitlines())


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_evaluate_cli_prints_a_table_and_takes_settings(runs, tmp_path):
    cmd = [sys.executable, "-m", "gendl.evaluate", f"--workdir={runs / 'gen'}"]
    cmd += ["--set=sample_quality.num_samples=20", "--set=sample_quality.metrics=('fid',)"]
    env = dict(os.environ, GENDL_CACHE_DIR=str(tmp_path))
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert any(line.startswith("sample_quality/fid/classifier/20/test ") for line in lines)
    assert json.loads(lines[-1])["step"] == 2
    assert not any("kid" in line for line in lines)
    bad = subprocess.run(cmd[:4] + ["--set=nope.x=1"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and "--set" in bad.stderr


def test_sample_cli(runs, tmp_path):
    out = tmp_path / "cli.npz"
    cmd = [sys.executable, "-m", "gendl.sample", f"--workdir={runs / 'gen'}", "--num_samples=5"]
    done = subprocess.run([*cmd, f"--out={out}"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with np.load(out) as f:
        assert f["images"].shape == (5, 28, 28, 1) and f["images"].dtype == np.uint8
        np.testing.assert_array_equal(f["labels"], np.arange(5) % 10)  # conditional: asked-for
    images, labels = export_npz(str(runs / "gen"), 5, str(tmp_path / "lib.npz"), batch_size=2)
    # Per-sample noise: the same images whatever the batch size (up to float rounding).
    diff = np.abs(images.astype(int) - np.load(out)["images"].astype(int))
    assert diff.max() <= 1


def _gan_with_sample_quality(fake_data, **settings):
    gan = _data(load("wgan_gp"), fake_data)
    gan.total_steps, gan.batch_size, gan.model.dim = 1, 8, 8
    gan.objective.n_critic = 1
    gan.evals.sample_quality.update(
        every_steps=0, num_samples=16, batch_size=16, metrics=("fid", "is"), **settings
    )
    return gan


# A classifier of two steps: what matters is that it is built, not how well it classifies.
TINY_CLASSIFIER = {"total_steps": 2, "batch_size": 16, "evals": {"accuracy": {"num_examples": 32}}}


def test_missing_classifier_is_built_on_first_need_and_the_run_goes_on(
    fake_data, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("GENDL_CACHE_DIR", str(tmp_path / "cache"))
    gan = _gan_with_sample_quality(fake_data, classifier_overrides=TINY_CLASSIFIER)
    with caplog.at_level("INFO"):
        assert loop.train(gan, str(tmp_path / "gan"))["step"] == 1
    built = tmp_path / "cache" / "classifier" / "mnist"
    assert (built / "config.json").exists() and (built / "checkpoints").is_dir()
    assert not (tmp_path / "cache" / "classifier" / "mnist.partial").exists()
    assert "Building the mnist feature classifier, once, cached in" in caplog.text
    assert "step 2/2" in caplog.text  # the classifier's own training, with its progress line
    final = [json.loads(x) for x in open(tmp_path / "gan" / "metrics.jsonl")][-1]
    assert final["eval/sample_quality/fid/classifier/16/test"] >= 0.0
    # The cached classifier is reused, not rebuilt.
    caplog.clear()
    with caplog.at_level("INFO"):
        loop.train(gan, str(tmp_path / "gan2"))
    assert "Building the mnist feature classifier" not in caplog.text


def test_classifier_that_cannot_be_built_skips_the_evaluation_not_training(
    fake_data, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("GENDL_CACHE_DIR", str(tmp_path / "cache"))
    no_data = {"data": {"manual_dir": str(tmp_path / "nothing"), "data_dir": str(tmp_path)}}
    gan = _gan_with_sample_quality(fake_data, classifier_overrides={**TINY_CLASSIFIER, **no_data})
    with caplog.at_level("INFO"):
        assert loop.train(gan, str(tmp_path / "gan"))["step"] == 1
    assert "Skipping the sample_quality evaluation; training goes on." in caplog.text
    assert "build it by hand with `python -m gendl.main --config=" in caplog.text
    assert (tmp_path / "gan" / "checkpoints").is_dir()
    assert not (tmp_path / "cache" / "classifier" / "mnist").exists()
    final = [json.loads(x) for x in open(tmp_path / "gan" / "metrics.jsonl")][-1]
    assert not any(k.startswith("eval/") for k in final)


def test_a_preemption_while_the_classifier_is_built_saves_the_run_first(
    fake_data, tmp_path, monkeypatch
):
    from gendl.evaluation import prerequisites

    def preempted(need, train):
        raise loop.Preempted("Stopped by SIGTERM while building.")

    monkeypatch.setattr(prerequisites, "ensure", preempted)
    monkeypatch.setenv("GENDL_CACHE_DIR", str(tmp_path / "cache"))
    gan = _gan_with_sample_quality(fake_data)
    gan.total_steps = 3
    gan.evals.sample_quality.every_steps = 2  # builds at step 2, no checkpoint is due there
    with pytest.raises(loop.Preempted):
        loop.train(gan, str(tmp_path / "gan"))
    assert sorted(os.listdir(tmp_path / "gan" / "checkpoints")) == ["2"]


def test_a_classifier_build_that_diverges_skips_the_evaluation_not_training(
    fake_data, tmp_path, monkeypatch, caplog
):
    from gendl.evaluation import prerequisites

    def diverges(need, train):
        raise loop.NonFiniteLossError("Training stopped: loss became nan at step 1.")

    monkeypatch.setattr(prerequisites, "ensure", diverges)
    monkeypatch.setenv("GENDL_CACHE_DIR", str(tmp_path / "cache"))
    with caplog.at_level("INFO"):
        assert loop.train(_gan_with_sample_quality(fake_data), str(tmp_path / "gan"))["step"] == 1
    assert "Skipping the sample_quality evaluation; training goes on." in caplog.text


def test_missing_inception_weights_warn_before_training_and_skip_the_evaluation(
    fake_data, tmp_path, caplog
):
    weights = str(tmp_path / "missing.pth")
    gan = _gan_with_sample_quality(fake_data, extractor="inception", inception_weights=weights)
    with caplog.at_level("INFO"):
        assert loop.train(gan, str(tmp_path / "gan"))["step"] == 1
    before = caplog.text.index("Starting from scratch")
    assert "The sample_quality evaluation will be skipped" in caplog.text[:before]
    assert "Skipping the sample_quality evaluation" in caplog.text[before:]


def test_inception_extractor_without_weights_says_where_to_get_them(tmp_path):
    cfg = {"inception_weights": str(tmp_path / "missing.pth")}
    with pytest.raises(ConfigError, match="pt_inception-2015-12-05"):
        extractors.check_available("inception", "mnist", cfg)
    with pytest.raises(ConfigError, match="inception_weights"):
        extractors.build("inception", "mnist", cfg)


def test_real_data_floors_score_real_against_real(runs, fake_data, tmp_path, monkeypatch):
    from gendl.evaluation import reference

    monkeypatch.setenv("GENDL_CACHE_DIR", str(tmp_path))
    cfg = {"classifier_workdir": str(runs / "classifier")}
    data = dict(manual_dir=fake_data["manual_dir"], data_dir=fake_data["data_dir"])
    out = reference.real_data_floors("mnist", 64, cfg=cfg, **data)
    assert out["fid/classifier/64/test_vs_train"] >= 0.0
    assert 0.0 <= out["precision/classifier/64/train_vs_test"] <= 1.0
    assert 1.0 <= out["is/classifier/64/test"] <= 10.0
    # Both splits' features are now cached, so an evaluator reuses them.
    assert len(os.listdir(tmp_path / "reference")) == 2


def test_extractor_takes_uint8_and_unit_floats_alike_and_refuses_other_ranges():
    ext = extractors.Extractor(
        name="sum",
        fingerprint="x",
        image_shape=(2, 2, 1),
        num_classes=None,
        apply=lambda x: (x.reshape(len(x), -1), None),
        batch_size=4,
    )
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 2, 2, 1) * 20
    from_uint8, _ = ext(pixels)
    from_float, _ = ext(pixels.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(from_uint8, from_float)
    assert from_uint8.max() == np.float32(220 / 255.0)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        ext(pixels.astype(np.float32))  # 0..255 floats: would have been scaled twice
    with pytest.raises(ConfigError, match=r"\(x \+ 1\) / 2"):
        ext(pixels.astype(np.float32) / 127.5 - 1.0)
