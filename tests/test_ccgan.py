"""CC-GAN: the random square hole, the losses by hand, the generator's output used only inside
the hole, the class head as the test classifier, the K+1 discriminator (the only one whose
class head the unlabelled images reach), and the smoke config end to end (K+1 CC-GAN^2 with
the low-resolution input, through the trainer, the evaluator and gendl.translate)."""

import functools
import importlib.util
import json
import math
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from gendl import models
from gendl.config import ConfigError
from gendl.data import masks
from gendl.data.spec import DataSpec
from gendl.models import ccgan as ccgan_models
from gendl.objectives import ccgan
from gendl.training import loop

LN = math.log
ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(arg):
    spec = importlib.util.spec_from_file_location("ccgan_config", ROOT / "configs" / "ccgan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def test_random_square_is_one_hole_of_the_side_anywhere_in_the_image():
    shape = (2000, 9, 7, 1)
    mask = np.asarray(masks.random_square(jax.random.key(0), shape, 3))
    assert mask.shape == shape and set(np.unique(mask)) == {0.0, 1.0}
    np.testing.assert_array_equal(mask.sum((1, 2, 3)), 9)
    rows, cols = mask.any(2)[..., 0], mask.any(1)[..., 0]  # [n, H], [n, W]
    np.testing.assert_array_equal(rows.sum(1), 3)  # 3 rows and 3 columns, so a 3x3 square
    np.testing.assert_array_equal(cols.sum(1), 3)
    # Every top-left corner where the square fits occurs: 7 rows x 5 columns.
    tops, lefts = rows.argmax(1), cols.argmax(1)
    assert set(tops.tolist()) == set(range(7)) and set(lefts.tolist()) == set(range(5))
    again = masks.random_square(jax.random.key(0), shape, 3)
    np.testing.assert_array_equal(again, mask)  # a function of the key and the shape
    with pytest.raises(ConfigError, match="between 1 and 7"):
        masks.random_square(jax.random.key(0), shape, 8)


def test_losses_by_hand():
    real = jnp.zeros(4)  # D = 1/2: -log D = ln 2
    inpainted = jnp.full(3, LN(3.0))  # D = 3/4: -log(1 - D) = ln 4, -log D = ln 4/3
    whole = jnp.full(3, -LN(3.0))  # D = 1/4: -log(1 - D) = ln 4/3, -log D = ln 4
    np.testing.assert_allclose(ccgan.discriminator_loss(real, [inpainted]), LN(8.0), rtol=1e-6)
    np.testing.assert_allclose(
        ccgan.discriminator_loss(real, [inpainted, whole]), LN(2 * 4 * 4 / 3), rtol=1e-6
    )
    np.testing.assert_allclose(ccgan.generator_loss([inpainted]), LN(4 / 3), rtol=1e-6)
    np.testing.assert_allclose(ccgan.generator_loss([inpainted, whole]), LN(16 / 3), rtol=1e-6)
    # Class logits (0, ln 3): p(1) = 3/4, p(0) = 1/4; labels (1, 0): CE = (ln 4/3 + ln 4) / 2.
    classes, labels = jnp.array([[0.0, LN(3.0)]] * 2), jnp.array([1, 0])
    loss, adversarial, supervised = ccgan.semi_supervised_loss(
        real, [inpainted], classes, labels, 0.5
    )
    np.testing.assert_allclose(supervised, 0.5 * (LN(4 / 3) + LN(4.0)), rtol=1e-6)
    np.testing.assert_allclose(adversarial, LN(8.0), rtol=1e-6)
    np.testing.assert_allclose(loss, LN(8.0) + 0.25 * (LN(4 / 3) + LN(4.0)), rtol=1e-6)
    baseline, _, _ = ccgan.semi_supervised_loss(real, [inpainted], classes, labels, 0.5, 0.0)
    np.testing.assert_allclose(baseline, 0.25 * (LN(4 / 3) + LN(4.0)), rtol=1e-6)


def test_low_resolution_averages_blocks_and_repeats_them():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    low = ccgan_models.low_resolution(x, 2)[0, ..., 0]
    np.testing.assert_allclose(
        low,
        [[2.5, 2.5, 4.5, 4.5], [2.5, 2.5, 4.5, 4.5], [10.5, 10.5, 12.5, 12.5]]
        + [[10.5] * 2 + [12.5] * 2],
    )


@functools.cache
def _objective(full_image_fake=False, low_res_factor=0, k_plus_one=False):
    config = ml_collections.ConfigDict(
        dict(
            data=dict(num_labelled=20),
            model=dict(
                name="ccgan",
                ngf=4,
                ndf=4,
                levels=2,
                bottleneck=1,
                num_classes=10,
                dropout=0.5,
                low_res_factor=low_res_factor,
                k_plus_one=k_plus_one,
            ),
            objective=dict(hole_size=6, class_weight=1.0, full_image_fake=full_image_fake),
        )
    )
    spec = DataSpec.of_images((12, 12, 1))
    return ccgan.ContextConditionalGan(config, models.build(config.model, spec), spec)


@functools.cache
def _variables(low_res_factor=0):
    """The tiny networks' initial variables, made once per test session."""
    return _objective(low_res_factor=low_res_factor).init(jax.random.key(0))


@pytest.mark.parametrize("low_res_factor", [0, 4])
def test_generator_output_is_used_only_inside_the_hole(low_res_factor):
    obj, variables = _objective(low_res_factor=low_res_factor), _variables(low_res_factor)
    inpaint = jax.jit(obj.inpaint)  # compiled: op by op, the convolutions are slow to start
    x = jax.random.uniform(jax.random.key(1), (5, 12, 12, 1))
    mask = masks.random_square(jax.random.key(2), x.shape, 6)
    filled = inpaint(variables, x, mask)
    np.testing.assert_array_equal(np.where(mask == 0, filled, 0), np.where(mask == 0, x, 0))
    assert np.abs(np.where(mask == 1, filled - x, 0)).max() > 1e-3
    # The pixels of the truth inside the hole reach the generator only through the
    # low-resolution copy: without it, the filled images ignore them entirely.
    other = jnp.where(mask == 1, 1.0 - x, x)
    changed = np.abs(np.asarray(inpaint(variables, other, mask) - filled)).max()
    assert (changed > 1e-4) == bool(low_res_factor)
    # The composition passes gradient to the generator's output only inside the hole.
    weights = jax.random.normal(jax.random.key(3), x.shape)
    grad = jax.grad(lambda g: jnp.sum(weights * ccgan.compose(x, g, mask)))(jnp.zeros_like(x))
    np.testing.assert_array_equal(grad, mask * weights)


def test_fakes_are_the_inpainted_images_and_with_cc_gan2_the_whole_output():
    x, g = jnp.zeros((2, 12, 12, 1)), jnp.ones((2, 12, 12, 1))
    mask = masks.random_square(jax.random.key(0), x.shape, 6)
    (inpainted,) = _objective()._fakes(x, g, mask)
    np.testing.assert_array_equal(inpainted, mask)
    inpainted, whole = _objective(full_image_fake=True)._fakes(x, g, mask)
    np.testing.assert_array_equal(inpainted, mask)
    np.testing.assert_array_equal(whole, g)


def test_classify_is_the_discriminator_class_head_without_dropout():
    obj, variables = _objective(), _variables()
    x = jax.random.uniform(jax.random.key(1), (6, 12, 12, 1))
    logits = jax.jit(obj.predictors()["classify"])(variables, x)

    @jax.jit
    def heads(variables, x, rng):
        d = obj.discriminator.apply
        train = d(variables["discriminator"], x, train=True, rngs={"dropout": rng})
        return d(variables["discriminator"], x), train[1]

    (adversarial, classes), noisy = heads(variables, 2 * x - 1, jax.random.key(2))
    np.testing.assert_allclose(logits, classes, rtol=1e-6, atol=1e-6)
    assert logits.shape == (6, 10) and adversarial.shape == (6,)
    assert not np.allclose(noisy, classes)  # dropout is on in training only


@pytest.mark.parametrize("k_plus_one", [False, True])
def test_unlabelled_images_reach_the_class_head_only_with_k_plus_one(k_plus_one):
    """The cause of CC-GAN's missing gain: with two heads, the unlabelled and in-painted
    images train the trunk but never the class head (its gradient from the adversarial loss is
    exactly 0), so the class head is fitted to the 100 labels alone. With K+1 classes the
    real/fake probability is D(x) = Z / (Z + 1), Z = sum_k exp(class logit k): every
    unlabelled image pulls on the class logits."""
    obj = _objective(k_plus_one=k_plus_one)
    params = obj.init(jax.random.key(0))["discriminator"]["params"]
    x = jax.random.uniform(jax.random.key(1), (4, 12, 12, 1), minval=-1.0)
    fake = jnp.flip(x, axis=1)

    def adversarial(p):
        real_logits, _ = obj.discriminator.apply({"params": p}, x)
        fake_logits, _ = obj.discriminator.apply({"params": p}, fake)
        return ccgan.discriminator_loss(real_logits, [fake_logits])

    grads = jax.jit(jax.grad(adversarial))(params)
    class_head = np.abs(np.asarray(grads["classes"]["kernel"])).max()
    trunk = np.abs(np.asarray(grads["down1"]["kernel"])).max()
    assert trunk > 0.0
    assert (class_head > 0.0) == k_plus_one
    assert ("adversarial" in params) != k_plus_one  # no separate real/fake head with K+1
    if k_plus_one:
        logits, classes = obj.discriminator.apply({"params": params}, x)
        z = np.exp(np.asarray(classes, np.float64)).sum(-1)
        np.testing.assert_allclose(jax.nn.sigmoid(logits), z / (z + 1.0), rtol=1e-5)


def test_bad_settings_are_config_errors():
    spec = DataSpec.of_images((28, 28, 1))
    cfg = ml_collections.ConfigDict(_objective().config.to_dict())
    cfg.model.levels = 3
    with pytest.raises(ConfigError, match="multiple of 8"):
        models.build(cfg.model, spec)
    cfg.model.levels, cfg.model.low_res_factor = 2, 3
    with pytest.raises(ConfigError, match="low_res_factor=3"):
        models.build(cfg.model, spec)
    cfg.model.low_res_factor, cfg.data.num_labelled = 0, 0
    with pytest.raises(ConfigError, match="num_labelled"):
        ccgan.ContextConditionalGan(cfg, models.build(cfg.model, spec), spec)


def test_smoke_k_plus_one_cc_gan2_low_res_end_to_end(fake_data, tmp_path):
    # The two-headed discriminator trains end to end in test_configs (ccgan:smoke).
    c = load("smoke,cc_gan2,low_res,k_plus_one")
    c.total_steps, c.log.every_steps, c.evals.classification.every_steps = 4, 1, 4
    c.log.sample_every_steps, c.log.num_samples = 4, 4
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    workdir = tmp_path / "run"
    assert loop.train(c, str(workdir))["step"] == 4
    metrics = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    for m in metrics:
        assert m["loss/discriminator"] == pytest.approx(
            m["loss/adversarial"] + m["loss/supervised"], rel=1e-5
        )
    # Three adversarial terms (real, in-painted, whole output). At first the class logits are
    # near 0, so Z = sum_k exp(c_k) is near K = 10 and D = Z / (Z + 1) near 10/11 for every
    # image: -log D(real) ~ ln 1.1 and -log(1 - D(fake)) ~ ln 11 for each kind of fake.
    assert metrics[0]["loss/adversarial"] == pytest.approx(LN(1.1) + 2 * LN(11.0), abs=0.3)
    assert 0.0 <= metrics[-1]["eval/classification/test_error_n64"] <= 1.0
    grid = np.asarray(Image.open(workdir / "samples" / "samples_00000004.png"))
    assert grid.shape[1] > 2 * grid.shape[0]  # context | in-painted | original

    # The evaluator's test error is that of the discriminator's class head with the averaged
    # parameters (dropout off), computed here from the checkpoint on the 64 test images.
    from gendl.data import pipeline
    from gendl.evaluation import file_translation, runs

    run = runs.load_run(str(workdir))
    test = pipeline.build_eval_data(run.config, "test")
    batch = test.read(np.arange(len(test)), np.random.default_rng(0))
    x = 2.0 * batch["image"].astype(np.float32) / 255.0 - 1.0
    disc = run.exp.objective.discriminator
    _, classes = disc.apply({"params": run.state.ema["discriminator"]}, x)
    error = np.mean(np.argmax(classes, -1) != batch["label"])
    assert metrics[-1]["eval/classification/test_error_n64"] == pytest.approx(error)
    _, raw = disc.apply({"params": run.state.params["discriminator"]}, x)
    assert not np.allclose(raw, classes)  # the average is not the last parameters

    # gendl.translate fills a centred hole of the trained size, nothing else.
    inputs = tmp_path / "in"
    inputs.mkdir()
    digit = np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)
    Image.fromarray(digit, "L").save(inputs / "d.png")
    file_translation.translate_files(str(workdir), str(inputs), str(tmp_path / "out"))
    out = np.asarray(Image.open(tmp_path / "out" / "d.png").convert("L"))
    hole = np.zeros((28, 28), bool)
    hole[7:21, 7:21] = True
    np.testing.assert_array_equal(out[~hole], digit[~hole])
