"""Pix2Pix: the networks against the PyTorch peer, the losses, training end to end with
resume, the translate command."""

import functools
import importlib.util
import json
import os
import pathlib
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gendl.config import ConfigError
from gendl.data.errors import DataError
from gendl.models import patchgan, unet
from gendl.objectives import pix2pix
from gendl.training import experiment, loop

ROOT = pathlib.Path(__file__).resolve().parents[1]
TORCH_PYTHON = pathlib.Path.home() / "torchvenv" / "bin" / "python"
TORCH_REF = ROOT.parent / "shared" / "bench" / "torch_ref.py"  # ../shared beside the repo
# The peer's counts, from shared/bench/torch_ref.py with torch 2.13:
#   sum(p.numel() for p in unet64().parameters()), and the same of patchgan().
PEER_UNET64, PEER_PATCHGAN = 29_244_035, 2_768_705


def _count(module, *inputs):
    shapes = jax.eval_shape(
        lambda: module.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, *inputs)
    )
    return sum(leaf.size for leaf in jax.tree.leaves(shapes["params"]))


def test_networks_have_the_peers_parameter_counts():
    x = jnp.zeros((1, 64, 64, 3))
    assert _count(unet.UNet(), x, False) == PEER_UNET64
    assert _count(patchgan.PatchGan(), x, x, False) == PEER_PATCHGAN


@pytest.mark.skipif(
    not (TORCH_PYTHON.exists() and TORCH_REF.exists()), reason="the PyTorch peer is not here"
)
def test_the_hard_coded_peer_counts_are_the_peers():
    code = (
        "import torch_ref as t\n"
        "print([sum(p.numel() for p in m.parameters()) for m in (t.unet64(), t.patchgan())])"
    )
    out = subprocess.run(
        [str(TORCH_PYTHON), "-c", code],
        cwd=TORCH_REF.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [PEER_UNET64, PEER_PATCHGAN]


def test_patchgan_receptive_field_is_70_and_matches_the_gradient():
    assert patchgan.receptive_field() == 70
    # The input pixels one interior logit depends on, found by its gradient (running
    # batch-norm averages: a pure convolution net), span exactly 70 pixels each way.
    net = patchgan.PatchGan(ndf=2, conv_impl="xla")
    x = jnp.zeros((1, 96, 96, 3))
    variables = net.init(jax.random.key(0), x, x, train=False)

    @jax.jit
    def logit_map_and_gradient(x):
        out = net.apply(variables, x, x, train=False)
        grad = jax.grad(lambda x: net.apply(variables, x, x, train=False)[0, 5, 5])(x)
        return out, grad

    out, g = logit_map_and_gradient(jax.random.normal(jax.random.key(1), x.shape))
    assert out.shape == (1, 10, 10)
    rows = np.nonzero(np.asarray(jnp.abs(g).sum((0, 2, 3))))[0]
    assert rows.max() - rows.min() + 1 == 70
    # At 64x64 the map is 6x6, as the peer's.
    y = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    assert jax.eval_shape(lambda y: net.apply(variables, y, y, train=False), y).shape == (1, 6, 6)


def test_losses_on_a_fixed_patch_map():
    ln3 = np.log(3.0)
    real = jnp.array([[0.0, ln3], [0.0, ln3]])  # BCE against 1: ln 2 and ln(4/3)
    fake = jnp.full((2, 2), ln3)  # BCE against 0: ln 4; against 1: ln(4/3)
    assert pix2pix.bce_with_logits(real, 1.0) == pytest.approx((np.log(2) + np.log(4 / 3)) / 2)
    assert pix2pix.discriminator_loss(real, fake) == pytest.approx(
        0.5 * (np.log(4) + (np.log(2) + np.log(4 / 3)) / 2)
    )  # 0.938355
    assert pix2pix.bce_with_logits(fake, 1.0) == pytest.approx(np.log(4 / 3))
    out, target = jnp.array([0.5, -0.5, 1.0, 0.0]), jnp.zeros(4)
    assert pix2pix.l1(out, target) == pytest.approx(0.5)
    # Huge logits stay finite.
    assert np.isfinite(pix2pix.discriminator_loss(jnp.full(2, -1e4), jnp.full(2, 1e4)))


def test_dropout_is_the_noise_in_training_and_translation():
    net = unet.UNet(out_channels=3, levels=3, ngf=4, dropout_levels=1, conv_impl="xla")
    x = jax.random.uniform(jax.random.key(0), (2, 8, 8, 3), minval=-1, maxval=1)
    variables = net.init({"params": jax.random.key(1), "dropout": jax.random.key(2)}, x, False)

    @functools.partial(jax.jit, static_argnums=(1, 2))
    def run(key, train, dropout=None):
        rngs = {"dropout": jax.random.key(key)}
        if train:
            return net.apply(variables, x, True, rngs=rngs, mutable=["batch_stats"])[0]
        return net.apply(variables, x, False, dropout, rngs=rngs)

    assert not np.allclose(run(0, True), run(1, True))
    assert not np.allclose(run(0, False, True), run(1, False, True))  # translation noise
    np.testing.assert_array_equal(run(0, False), run(1, False))  # without: deterministic
    assert np.all(np.abs(run(0, False)) <= 1.0)  # tanh


def _config(manual_dir, variant="smoke"):
    path = ROOT / "configs" / "pix2pix.py"
    spec = importlib.util.spec_from_file_location("pix2pix_config", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config(variant)
    c.data.manual_dir = manual_dir
    # Smaller than :smoke for speed: 16x16, a 4-level U-Net, a 2-layer PatchGAN.
    c.data.ops = ("alpha_white", "resize:18", "random_crop:16", "random_flip")
    c.data.test_ops = ("alpha_white", "resize:16")
    c.model.levels, c.model.n_layers = 4, 2
    c.total_steps = 4
    c.checkpoint.every_steps = 2
    c.log.every_steps = 1
    c.log.sample_every_steps = 2
    return c


def test_l1_only_has_no_discriminator(fake_data):
    c = _config(fake_data["manual_dir"], "smoke,l1_only")
    exp = experiment.build(c)
    assert set(exp.objective.networks) == {"generator"}
    state = jax.eval_shape(exp.init_state)  # traced, not run: shapes are the point
    assert set(state.params) == set(state.opt_state) == {"generator"}
    jax.eval_shape(exp.jitted_step("train"), state, exp.frozen, exp.batch(0))
    names = exp.metric_names_of("train")
    assert "loss/l1" in names and not any("discriminator" in n for n in names)


def test_unknown_direction_is_a_config_error(fake_data):
    c = _config(fake_data["manual_dir"])
    c.objective.direction = "a_to_b"
    with pytest.raises(ConfigError, match="a2b, b2a"):
        experiment.build(c)


@pytest.fixture(scope="module")
def trained(fake_data, tmp_path_factory):
    """The smoke config trained 2 steps, resumed to 4, and trained 4 steps in one go."""
    root = tmp_path_factory.mktemp("pix2pix")
    c = _config(fake_data["manual_dir"])
    c.total_steps = 2
    loop.train(c, str(root / "resumed"))
    c.total_steps = 4
    loop.train(c, str(root / "resumed"))
    loop.train(c, str(root / "straight"))
    return root


def _metrics(workdir):
    with open(workdir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def test_smoke_trains_and_resumes_exactly(trained):
    straight, resumed = _metrics(trained / "straight"), _metrics(trained / "resumed")
    assert [m["step"] for m in straight] == [1, 2, 3, 4]
    drop = ("time/", "perf/", "eval/")  # the resumed run also evaluated at its step 2
    assert [{k: v for k, v in m.items() if not k.startswith(drop)} for m in resumed] == [
        {k: v for k, v in m.items() if not k.startswith(drop)} for m in straight
    ]
    for m in straight:
        assert m["loss/generator"] == pytest.approx(
            m["loss/generator_adversarial"] + 100.0 * m["loss/l1"], rel=1e-5
        )
        assert 0 < m["loss/discriminator"] < 5
    grid = np.asarray(Image.open(trained / "straight" / "samples" / "samples_00000004.png"))
    assert grid.shape[1] > 2 * grid.shape[0]  # cells are input | translation | target
    final = straight[-1]
    for name in ("l1", "psnr", "ssim"):  # the translation evaluator at the end
        assert np.isfinite(final[f"eval/translation/{name}"])
        assert np.isfinite(final[f"eval/translation/identity_{name}"])
    # The fake pairs are colour negatives: the input differs from its target.
    assert final["eval/translation/identity_l1"] > 0.05


def _mixed_inputs(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (50, 70, 4), np.uint8), "RGBA").save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (20, 20), np.uint8), "L").save(folder / "grey.png")
    Image.fromarray(rng.integers(0, 256, (90, 80, 3), np.uint8)).save(folder / "photo.jpg")
    return folder


def test_translate_mixed_sizes_and_modes(trained, tmp_path):
    from gendl.evaluation import file_translation as translate

    inputs = _mixed_inputs(tmp_path / "in")
    written = translate.translate_files(str(trained / "straight"), str(inputs), str(tmp_path / "o"))
    assert sorted(os.path.basename(p) for p in written) == ["grey.png", "photo.png", "rgba.png"]
    for path in written:
        im = Image.open(path)
        assert im.size == (16, 16) and im.mode == "RGB"  # the smoke model's output
    # One file in, one file out; the same seed gives the same translation.
    once, twice = (
        translate.translate_files(
            str(trained / "straight"), str(inputs / "photo.jpg"), str(tmp_path / out)
        )[0]
        for out in ("o2", "o3")
    )
    np.testing.assert_array_equal(np.asarray(Image.open(once)), np.asarray(Image.open(twice)))


def test_translate_refuses_a_non_image_and_the_other_direction(trained, tmp_path):
    from gendl.evaluation import file_translation as translate

    inputs = _mixed_inputs(tmp_path / "in")
    (inputs / "notes.png").write_text("not an image")
    out = tmp_path / "o"
    with pytest.raises(DataError, match="notes.png is not a readable image"):
        translate.translate_files(str(trained / "straight"), str(inputs), str(out))
    assert not out.exists()  # nothing written
    with pytest.raises(ConfigError, match="trained to translate a2b"):
        translate.translate_files(
            str(trained / "straight"), str(inputs / "photo.jpg"), str(out), direction="b2a"
        )


def test_translate_command_prints_one_paragraph(trained, tmp_path, subprocess_env):
    inputs = _mixed_inputs(tmp_path / "in")
    (inputs / "readme.txt").write_text("hello")
    cmd = ["python", "-m", "gendl.translate", f"--workdir={trained / 'straight'}"]
    cmd += [f"--input={inputs}", f"--output={tmp_path / 'o'}"]
    proc = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "readme.txt" in proc.stderr and "Traceback" not in proc.stderr


def test_ssim_psnr_l1_against_hand_computed_values():
    from gendl.evaluation import translation

    # Constant images a, b: no variance, so SSIM is the luminance term (2ab + C1)/(a^2+b^2+C1).
    a, b = np.full((1, 11, 11, 1), 0.25), np.full((1, 11, 11, 1), 0.75)
    c1 = 0.01**2
    assert float(translation.ssim(a, b)[0]) == pytest.approx((0.375 + c1) / (0.625 + c1), 1e-5)
    assert float(translation.ssim(b, b)[0]) == pytest.approx(1.0, 1e-6)
    # x: left half 1, right half 0, centre column 0.5 -> mean 0.5 under the symmetric window;
    # y = 1 - x: same variance v, covariance -v, so SSIM = (C2 - 2v) / (C2 + 2v).
    x = np.zeros((1, 11, 11, 1))
    x[:, :, :5], x[:, :, 5] = 1.0, 0.5
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g /= g.sum()  # the window's column weights
    v = (1 - g[5]) / 2 + 0.25 * g[5] - 0.25
    c2 = 0.03**2
    assert float(translation.ssim(x, 1 - x)[0]) == pytest.approx((c2 - 2 * v) / (c2 + 2 * v), 1e-4)
    assert float(translation.psnr(a, b)[0]) == pytest.approx(10 * np.log10(1 / 0.25), 1e-5)
    assert float(translation.l1(a, b)[0]) == pytest.approx(0.5)
