"""Context encoder: the mask rules, the masked loss and the fill baselines against hand-computed
values, the channel-wise bottleneck, and the smoke config end to end (training, the inpainting
evaluator, the translate command with and without a mask file)."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gendl.config import ConfigError
from gendl.data import masks
from gendl.data.errors import DataError
from gendl.evaluation import fills, inpainting
from gendl.models import context_encoder as ce_models
from gendl.objectives import context_encoder as ce

ROOT = pathlib.Path(__file__).resolve().parents[1]


# --- masks
def test_centre_hole_is_the_central_quarter():
    m = np.asarray(masks.centre((2, 8, 8, 3)))
    assert m.shape == (2, 8, 8, 1) and m.dtype == np.float32
    expected = np.zeros((8, 8))
    expected[2:6, 2:6] = 1
    np.testing.assert_array_equal(m[0, ..., 0], expected)
    np.testing.assert_array_equal(m[1], m[0])
    m28 = np.asarray(masks.centre((1, 28, 28)))
    assert m28.sum() == 28 * 28 / 4 and m28[0, 7:21, 7:21].min() == 1  # 14x14 at 7..20


def test_random_blocks_cover_at_most_a_quarter_and_follow_the_key():
    shape = (64, 32, 32, 3)
    m = np.asarray(masks.random_blocks(jax.random.key(0), shape))
    assert m.shape == (64, 32, 32, 1) and set(np.unique(m)) <= {0.0, 1.0}
    coverage = m.mean(axis=(1, 2, 3))
    assert coverage.max() <= 0.25
    assert coverage.min() >= (32 // 8) ** 2 / 32**2  # the first block is always taken
    assert coverage.mean() > 0.1  # several blocks, not one
    assert len({m[i].tobytes() for i in range(64)}) == 64  # every image its own
    again = np.asarray(masks.random_blocks(jax.random.key(0), shape))
    np.testing.assert_array_equal(m, again)
    other = np.asarray(masks.random_blocks(jax.random.key(1), shape))
    assert not np.array_equal(m, other)
    tighter = np.asarray(masks.get("random_blocks:0.1:4")(jax.random.key(0), shape))
    assert tighter.mean(axis=(1, 2, 3)).max() <= 0.1


def test_random_square_is_one_whole_square_inside_the_image():
    m = np.asarray(masks.random_square(jax.random.key(3), (16, 10, 12), 4))
    assert m.shape == (16, 10, 12, 1)
    for image in m[..., 0]:
        rows, cols = np.nonzero(image)
        assert len(rows) == 16 and np.ptp(rows) == 3 and np.ptp(cols) == 3
    np.testing.assert_array_equal(
        m, np.asarray(masks.get("random_square:4")(jax.random.key(3), (16, 10, 12)))
    )
    with pytest.raises(ConfigError, match="does not fit"):
        masks.random_square(jax.random.key(0), (1, 8, 8), 9)


def test_mask_rule_strings():
    np.testing.assert_array_equal(
        masks.get("center")(jax.random.key(5), (1, 4, 4)), masks.centre((1, 4, 4))
    )
    for bad in ("middle", "random_square", "random_blocks:a", "centre:2"):
        with pytest.raises(ConfigError, match="Unknown mask rule"):
            masks.get(bad)


def test_dilate_grows_the_hole_by_whole_pixels():
    m = np.zeros((1, 5, 5, 1), np.float32)
    m[0, 2, 2] = 1
    grown = np.asarray(masks.dilate(jnp.asarray(m), 1))[0, ..., 0]
    expected = np.zeros((5, 5))
    expected[1:4, 1:4] = 1
    np.testing.assert_array_equal(grown, expected)


# --- the loss
def test_reconstruction_loss_by_hand():
    target = np.zeros((1, 3, 3, 1), np.float32)
    output = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1) / 10  # 0, .1, ..., .8
    mask = np.zeros((1, 3, 3, 1), np.float32)
    mask[0, 1, 1] = 1  # the hole: the centre pixel, output 0.4
    assert float(ce.reconstruction_loss(output, target, mask)) == pytest.approx(0.16)
    # The overlap band: the 8 neighbours at weight 10, the mean over the 9 pixels.
    ring = sum(v * v for v in (0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8))
    want = (0.16 + 10 * ring) / 9
    got = ce.reconstruction_loss(output, target, mask, overlap=1, overlap_weight=10.0)
    assert float(got) == pytest.approx(want, rel=1e-6)
    # Two channels: the mean over the hole's pixels and channels.
    two = np.concatenate([output, 2 * output], -1)
    got2 = ce.reconstruction_loss(two, np.zeros_like(two), mask)
    assert float(got2) == pytest.approx((0.16 + 0.64) / 2)
    # G sees the context and the fill; the completion keeps the context.
    x = np.full((1, 3, 3, 1), 0.5, np.float32)
    np.testing.assert_allclose(ce.masked_input(x, mask, -1.0)[0, :, :, 0].sum(), 8 * 0.5 - 1.0)
    np.testing.assert_allclose(ce.complete(output, x, mask)[0, 1, 1, 0], 0.4)
    np.testing.assert_allclose(ce.complete(output, x, mask)[0, 0, 0, 0], 0.5)


# --- baselines and metrics
def test_mean_fill_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 100.0, 6.0], [7.0, 8.0, 9.0]], np.float32)
    x = np.stack([x, 2 * x], -1)[None]  # two channels
    mask = np.zeros((1, 3, 3, 1), np.float32)
    mask[0, 1, 1] = 1
    filled = np.array(fills.mean_fill(x, mask))
    np.testing.assert_allclose(filled[0, 1, 1], [5.0, 10.0])  # (1+2+3+4+6+7+8+9)/8 = 5
    filled[0, 1, 1] = x[0, 1, 1]
    np.testing.assert_array_equal(filled, x)  # the context untouched


def test_diffusion_fill_is_harmonic():
    # One row, hole between 0 and 3: the harmonic fill is the straight line 1, 2.
    x = np.array([0.0, 9.0, 9.0, 3.0], np.float32).reshape(1, 1, 4, 1)
    mask = np.array([0, 1, 1, 0], np.float32).reshape(1, 1, 4, 1)
    out = np.asarray(fills.diffusion_fill(x, mask, iterations=200))
    np.testing.assert_allclose(out[0, 0, :, 0], [0.0, 1.0, 2.0, 3.0], atol=1e-5)
    # A one-pixel hole: the mean of its four neighbours.
    x = np.zeros((1, 3, 3, 1), np.float32)
    x[0, 0, 1], x[0, 2, 1], x[0, 1, 0], x[0, 1, 2], x[0, 1, 1] = 1, 2, 3, 6, 50
    mask = np.zeros((1, 3, 3, 1), np.float32)
    mask[0, 1, 1] = 1
    assert float(fills.diffusion_fill(x, mask)[0, 1, 1, 0]) == pytest.approx(3.0)


def test_hole_scores_by_hand():
    target = np.zeros((1, 2, 2, 1), np.float32)
    output = np.array([0.5, 0.1, 0.9, 0.9], np.float32).reshape(1, 2, 2, 1)
    mask = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
    s = inpainting.hole_scores(output, target, mask)
    assert float(s["l1"][0]) == pytest.approx(0.3)
    assert float(s["l2"][0]) == pytest.approx(0.13)
    assert float(s["psnr"][0]) == pytest.approx(10 * np.log10(1 / 0.13), rel=1e-5)


# --- networks
def test_channel_wise_layer_does_not_mix_channels():
    layer = ce_models.ChannelWiseDense()
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
    variables = layer.init(jax.random.key(1), x)
    assert variables["params"]["kernel"].shape == (3, 16, 16)  # m n^4 weights, not (m n^2)^2
    y = layer.apply(variables, x)
    y2 = layer.apply(variables, x.at[:, 0, 0, 1].add(1.0))
    changed = np.abs(np.asarray(y2 - y)).max(axis=(0, 1, 2))
    assert changed[1] > 0 and changed[0] == 0 and changed[2] == 0
    # ... and spreads over every position of its own channel.
    assert np.all(np.abs(np.asarray(y2 - y))[..., 1] > 0)


@pytest.mark.parametrize("side", [28, 32])
def test_generator_keeps_the_image_size(side):
    net = ce_models.ContextEncoder(out_channels=1, nef=4, ngf=4)
    x = jnp.zeros((2, side, side, 1))
    out = jax.eval_shape(lambda: net.init_with_output(jax.random.key(0), x, train=False)[0])
    assert out.shape == (2, side, side, 1)


# --- end to end
def _config(fake_data, arg="smoke"):
    path = ROOT / "configs" / "context_encoder.py"
    spec = importlib.util.spec_from_file_location("ce_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config(arg)
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    return c


def test_l2_only_builds_no_discriminator(fake_data):
    from gendl.training import experiment

    exp = experiment.build(_config(fake_data, "smoke,l2_only"))
    assert sorted(exp.objective.networks) == ["generator"]
    assert "generator" not in _config(fake_data, "smoke,l2_only").optimizer


@pytest.fixture(scope="module")
def trained(fake_data, tmp_path_factory):
    from gendl.training import loop

    c = _config(fake_data)
    c.total_steps, c.checkpoint.every_steps, c.log.every_steps = 2, 2, 1
    workdir = tmp_path_factory.mktemp("ce") / "run"
    result = loop.train(c, str(workdir))
    return workdir, result


def test_smoke_run_trains_and_scores_against_the_fills(trained):
    import json

    workdir, result = trained
    assert result["step"] == 2
    assert (workdir / "samples" / "samples_00000002.png").exists()  # the grid at the last step
    lines = [json.loads(s) for s in (workdir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in lines if "loss/reconstruction" in r]
    assert len(steps) == 2 and all(np.isfinite(r["loss/generator_adversarial"]) for r in steps)
    evals = [r for r in lines if "hole_psnr" in r or "eval/inpainting/hole_psnr" in r]
    assert evals, "the inpainting evaluator wrote no scores"
    scores = {k.split("inpainting/")[-1]: v for k, v in evals[-1].items()}
    for prefix in ("", "mean_fill/", "diffusion_fill/"):
        for name in ("l1", "l2", "psnr"):
            assert np.isfinite(scores[f"{prefix}hole_{name}"])
        want = 10 * np.log10(1 / scores[f"{prefix}hole_l2"])
        # psnr is averaged per image, so it is at least that of the mean l2 (Jensen).
        assert scores[f"{prefix}hole_psnr"] >= want - 1e-4


def _inputs(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_translate_completes_the_hole_and_keeps_the_context(trained, tmp_path):
    from gendl.evaluation import file_translation as translate

    workdir, _ = trained
    inputs = _inputs(tmp_path / "in")
    x = np.asarray(Image.open(inputs / "0.png"), np.int32)
    # Without --mask: the run's rule, the centre quarter.
    out = translate.translate_files(str(workdir), str(inputs), str(tmp_path / "o"))
    y = np.asarray(Image.open(out[0]), np.int32)
    centre = np.zeros((32, 32), bool)
    centre[8:24, 8:24] = True
    np.testing.assert_array_equal(y[~centre], x[~centre])
    assert np.abs(y[centre] - x[centre]).mean() > 10  # painted, not copied
    # A mask file (white = missing), of another size: resized to the model's.
    hole = np.zeros((64, 64), np.uint8)
    hole[:16, :32] = 255  # the top-left 8x16 at 32x32
    Image.fromarray(hole).save(tmp_path / "hole.png")
    out = translate.translate_files(
        str(workdir), str(inputs / "0.png"), str(tmp_path / "m"), mask=str(tmp_path / "hole.png")
    )
    y = np.asarray(Image.open(out[0]), np.int32)
    kept = np.ones((32, 32), bool)
    kept[:8, :16] = False
    np.testing.assert_array_equal(y[kept], x[kept])
    assert np.abs(y[~kept] - x[~kept]).mean() > 10
    with pytest.raises(DataError, match="is not a file"):
        translate.translate_files(
            str(workdir), str(inputs), str(tmp_path / "n"), mask=str(tmp_path / "none.png")
        )


def test_a_mask_is_refused_by_models_that_take_none(tmp_path):
    import types

    import ml_collections

    from gendl.evaluation import file_translation as translate

    objective = types.SimpleNamespace(
        predictors=lambda: {"translate": None}, conditional=False, image_shape=(8, 8, 3)
    )
    config = ml_collections.ConfigDict({"objective": {"name": "pix2pix"}})
    run = types.SimpleNamespace(exp=types.SimpleNamespace(objective=objective, config=config))
    with pytest.raises(ConfigError, match="takes no mask"):
        translate._with_mask(run, str(tmp_path / "hole.png"))
