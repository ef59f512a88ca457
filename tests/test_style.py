"""Style scores of translations (gendl.evaluation.style) with a classifier whose answers are
known, through the translation evaluator; the labelled-folders source the emoji style
classifier trains on. (configs/emoji_style.py:smoke trains end to end in test_configs.)"""

import os
import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image
from test_configs import load

from gendl.config import ConfigError
from gendl.data import sources
from gendl.data.sources import folder
from gendl.evaluation import extractors, sample_quality, style, translation


def _brightness_classifier():
    """Features: the mean colour (3 numbers); class 1 ("bright") when its mean exceeds 0.5."""

    def apply(x):
        colour = jnp.mean(x, axis=(1, 2))
        m = jnp.mean(colour, -1, keepdims=True)
        return colour, jnp.concatenate([0.5 - m, m - 0.5], -1)

    return extractors.Extractor("classifier", "fake", None, 2, jax.jit(apply), batch_size=8)


def _flat(colours, size=4):
    """Images of one colour each, uint8 [n, size, size, 3]."""
    return np.broadcast_to(colours[:, None, None, :], (len(colours), size, size, 3)).astype(
        np.uint8
    )


@pytest.fixture
def bright_is_b(monkeypatch):
    monkeypatch.setattr(extractors, "build", lambda *a: _brightness_classifier())
    return dict(style_classifier="fake", style_classes=("a", "b"))


def test_style_scores_by_hand(bright_is_b):
    rng = np.random.default_rng(0)
    dark = _flat(rng.integers(0, 100, (12, 3)))
    bright = _flat(rng.integers(140, 250, (12, 3)))
    scores = style.StyleScores(bright_is_b, "b")
    # Translations = the targets darkened by 10 levels (still bright): the features shift by
    # 10/255 in each of 3 dimensions at equal covariance, so FID = 3 (10/255)^2.
    for i in (0, 6):
        scores.add(dark[i : i + 6], bright[i : i + 6] - 10, bright[i : i + 6])
    out = scores.result()
    assert out["style_accuracy"] == out["target_style_accuracy"] == 1.0
    assert out["identity_style_accuracy"] == 0.0
    assert out["style_fid"] == pytest.approx(3 * (10 / 255) ** 2, rel=1e-6)
    assert out["identity_style_fid"] > 100 * out["style_fid"]
    # Unbiased KID can dip below 0 for a small shift on 12 images; the baseline is far off.
    assert out["style_kid"] < 0.1 * out["identity_style_kid"]

    scores.reset()  # translating b -> a instead: the dark images are now the target style
    a_scores = style.StyleScores(bright_is_b, "a")
    a_scores.add(bright, dark, dark)
    out = a_scores.result()
    assert out["style_accuracy"] == out["target_style_accuracy"] == 1.0
    assert out["identity_style_accuracy"] == 0.0 and out["style_fid"] == pytest.approx(0, abs=1e-9)
    with pytest.raises(ConfigError, match="target feature 'c'"):
        style.StyleScores(bright_is_b, "c")


def _write_styles(root, n=40):
    """Google: dark flat emoji; Twitter: bright; pairs of the same names."""
    rng = np.random.default_rng(1)
    for name, low, high in (("google", 0, 100), ("twitter", 150, 256)):
        os.makedirs(root / name)
        for i in range(n):
            image = _flat(rng.integers(low, high, (1, 3)), 8)[0]
            Image.fromarray(image).save(root / name / f"p{i:03d}.png")


def test_translation_evaluator_reports_style_scores(tmp_path, bright_is_b):
    _write_styles(tmp_path)
    c = load("pix2pix")
    c.data.paths = (str(tmp_path / "google"), str(tmp_path / "twitter"))
    c.data.test_ops = ()
    c.evals.translation.update(bright_is_b)

    def translate(variables, x, rng=None):  # dark -> bright, a perfect style transfer
        return 1.0 - x

    exp = types.SimpleNamespace(
        config=c,
        objective=types.SimpleNamespace(
            conditional=False, predictors=lambda: {"translate": translate}
        ),
    )
    ev = translation.Translation(exp, c.evals.translation)
    values, _ = ev.run(None)
    test = ev.data.read(np.arange(len(ev.data)), None)
    assert len(ev.data) >= 2
    assert values["style_accuracy"] == values["target_style_accuracy"] == 1.0
    assert values["identity_style_accuracy"] == 0.0
    features = lambda images: _brightness_classifier()(images)[0]
    expected = sample_quality.fid(features(255 - test["a"]), features(test["b"]))
    assert values["style_fid"] == pytest.approx(expected, rel=1e-5)
    assert values["psnr"] > 0 and "identity_psnr" in values  # the pixel scores are still there


def test_labelled_folders_label_by_folder_and_split_by_name(fake_data):
    cfg = ml_collections.ConfigDict(
        dict(
            source="labelled_folders",
            paths=("{manual_dir}/emoji/google", "{manual_dir}/emoji/twitter"),
            names=("google", "twitter"),
            manual_dir=fake_data["manual_dir"],
        )
    )
    split = {s: sources.build(cfg, s) for s in ("train", "test")}
    assert split["train"].spec.num_classes == 2
    assert len(split["train"]) + len(split["test"]) == 48  # 24 names x 2 styles
    for source in split.values():
        by_label = [
            sorted(k for k, y in zip(source.keys, source.labels, strict=True) if y == c)
            for c in (0, 1)
        ]
        assert by_label[0] == by_label[1]  # every name in the same split in both styles
        assert all(
            folder.in_split(k, "test", 0.1) == (source is split["test"]) for k in source.keys
        )
        batch = source.read(np.arange(len(source)), np.random.default_rng(0))
        np.testing.assert_array_equal(batch["label"], source.labels)
        # The files of class 1 come from the twitter folder: the colour-inverted copies.
        first = {y: i for i, y in reversed(list(enumerate(source.labels)))}
        assert source.files[first[1]]["image"].parent.name == "twitter"


def test_the_style_classifier_is_a_prerequisite_built_from_the_emoji_folders():
    need = extractors.classifier_prerequisite("emoji_style", {}, manual_dir="/data")
    assert need.config.data.source == "labelled_folders"
    assert need.config.data.name == "emoji_style" and need.config.model.num_classes == 2
    assert "configs/emoji_style.py" not in need.how_to and ":emoji_style" in need.how_to
    assert need.workdir.endswith(os.path.join("classifier", "emoji_style"))
