"""ProGAN: the equalised-LR layers, pixel norm and minibatch stddev by hand; the fade-in
blend; the resolution schedule; per-phase batch sizes; the smoke config end to end with a
SIGTERM in the middle of its fade-in, resumed bitwise as an uninterrupted run."""

import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import resume_fixtures

from gendl.config import ConfigError
from gendl.models import equalized as eq
from gendl.models import progan
from gendl.objectives import progan as progan_objective
from gendl.training import experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _smoke(fake_data):
    from gendl import config as config_lib

    c = config_lib.sibling_config(str(ROOT / "configs" / "progan.py"), "progan", "smoke")
    c.data.manual_dir = fake_data["manual_dir"]
    c.data.data_dir = fake_data["data_dir"]  # never the user's ~/tensorflow_datasets
    c.log.every_steps = 1
    return c


# --- Layers, by hand.


def test_equalized_dense_scales_weight_and_bias_at_run_time():
    x = jnp.array([[1.0, 2.0]])
    for m in (1.0, 0.01):
        layer = eq.EqualizedDense(1, lr_multiplier=m)  # He gain sqrt(2), fan_in 2: scale m
        params = {"kernel": jnp.array([[1.0], [1.0]]), "bias": jnp.array([5.0])}
        y = layer.apply({"params": params}, x)
        np.testing.assert_allclose(y, [[3.0 * m + 5.0 * m]], rtol=1e-6)
    gain_one = eq.EqualizedDense(1, gain=1.0, use_bias=False)
    y = gain_one.apply({"params": {"kernel": jnp.array([[1.0], [1.0]])}}, x)
    np.testing.assert_allclose(y, [[3.0 / math.sqrt(2.0)]], rtol=1e-6)


def test_equalized_init_stores_unit_weights_and_keeps_the_effective_function():
    x = jnp.ones((1, 256))
    for m in (1.0, 0.01):
        v = eq.EqualizedDense(256, lr_multiplier=m, bias_init=1.0).init(jax.random.key(0), x)
        w, b = v["params"]["kernel"], v["params"]["bias"]
        assert float(jnp.std(w)) == pytest.approx(1.0 / m, rel=0.02)  # stored: N(0, 1/m^2)
        effective = w * eq.weight_scale(256, lr_multiplier=m)
        assert float(jnp.std(effective)) == pytest.approx(math.sqrt(2.0 / 256), rel=0.02)
        np.testing.assert_allclose(b * m, 1.0, rtol=1e-6)  # the effective bias is bias_init


def test_equalized_conv_by_hand():
    layer = eq.EqualizedConv(1, 3, gain=1.0)  # fan_in 9: scale 1/3
    params = {"kernel": jnp.ones((3, 3, 1, 1)), "bias": jnp.array([0.5])}
    y = layer.apply({"params": params}, jnp.ones((1, 3, 3, 1)))[0, :, :, 0]
    # 'SAME' zero padding: a corner sees 4 ones, an edge 6, the centre 9; times 1/3, + 0.5.
    expected = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 3.0 + 0.5
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    # lr_multiplier 0.1 scales both the stored kernel's and bias's contribution by 0.1.
    y = eq.EqualizedConv(1, 3, gain=1.0, lr_multiplier=0.1).apply(
        {"params": params}, jnp.ones((1, 3, 3, 1))
    )
    np.testing.assert_allclose(y[0, :, :, 0], expected * 0.1, rtol=1e-6)


def test_pixel_norm_divides_each_pixel_by_its_rms():
    x = jnp.array([3.0, 4.0, 0.0, 0.0]).reshape(1, 2, 1, 2)  # pixels (3, 4) and (0, 0)
    y = eq.pixel_norm(x)
    rms = math.sqrt((9.0 + 16.0) / 2.0)
    np.testing.assert_allclose(y[0, 0, 0], [3.0 / rms, 4.0 / rms], rtol=1e-6)
    np.testing.assert_allclose(y[0, 1, 0], [0.0, 0.0])  # eps keeps a zero pixel finite


def test_minibatch_stddev_by_hand():
    # Batch 4, group size 2: groups {0, 2} and {1, 3} (sample i is in group i % 2).
    x = jnp.array([[0.0, 0.0], [1.0, 1.0], [2.0, 4.0], [1.0, 1.0]]).reshape(4, 1, 1, 2)
    y = eq.minibatch_stddev(x, group_size=2)
    assert y.shape == (4, 1, 1, 3)
    np.testing.assert_array_equal(y[..., :2], x)
    # Group {0, 2}: population std per channel 1 and 2, mean 1.5; group {1, 3}: 0 (+eps).
    np.testing.assert_allclose(y[:, 0, 0, 2], [1.5, 1e-4, 1.5, 1e-4], rtol=1e-4)
    with pytest.raises(ValueError, match="divide"):
        eq.minibatch_stddev(jnp.zeros((6, 1, 1, 2)), group_size=4)


def test_resampling_by_hand():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_allclose(eq.downscale2d(x)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(
        eq.upscale2d(jnp.array([[1.0, 2.0]]).reshape(1, 1, 2, 1))[0, :, :, 0],
        [[1, 1, 2, 2], [1, 1, 2, 2]],
    )


# --- Growing networks: the fade-in blend.


@pytest.fixture(scope="module")
def nets():
    g = progan.Generator(resolution=16, channels=1, fmap_base=32, fmap_max=8)
    d = progan.Discriminator(resolution=16, fmap_base=32, fmap_max=8, mbstd_group_size=2)
    z = jax.random.normal(jax.random.key(0), (2, 8))
    x = jax.random.normal(jax.random.key(1), (2, 16, 16, 1))
    return g, g.init(jax.random.key(2), z), d, d.init(jax.random.key(3), x), z, x


def test_every_resolution_has_its_parameters_from_init(nets):
    _, gv, _, dv, _, _ = nets
    for r in (4, 8, 16):
        assert f"to_rgb_{r}" in gv["params"] and f"from_rgb_{r}" in dv["params"]
    assert {"dense_4", "conv_4", "conv0_8", "conv1_16"} <= set(gv["params"])
    assert {"conv_4", "dense0_4", "dense1_4", "conv0_8", "conv1_16"} <= set(dv["params"])


def test_generator_fade_in_blend_at_alpha_0_half_1(nets):
    g, gv, _, _, z, _ = nets
    out = {a: g.apply(gv, z, 4, a) for a in (0.0, 0.5, 1.0)}
    assert out[1.0].shape == (2, 16, 16, 1)
    # alpha 0: exactly the 8x8 image, nearest-upsampled; 1: the new layers alone; 1/2: halfway.
    np.testing.assert_allclose(out[0.0], eq.upscale2d(g.apply(gv, z, 3, 1.0)), atol=1e-6)
    np.testing.assert_allclose(out[0.5], (out[0.0] + out[1.0]) / 2, atol=1e-6)
    assert float(jnp.max(jnp.abs(out[1.0] - out[0.0]))) > 1e-3
    np.testing.assert_array_equal(g.apply(gv, z, 4, 1.0), g.apply(gv, z))  # default: full


def test_discriminator_fade_in_blend(nets):
    _, _, d, dv, _, x = nets
    # alpha 0: the 16x16 image is seen only through the previous resolution's path.
    np.testing.assert_allclose(d.apply(dv, x, 0.0), d.apply(dv, eq.downscale2d(x), 1.0), atol=1e-6)
    assert float(jnp.max(jnp.abs(d.apply(dv, x, 1.0) - d.apply(dv, x, 0.0)))) > 1e-4
    assert d.apply(dv, x, 0.5).shape == (2,)


def test_resolution_must_be_a_power_of_two():
    with pytest.raises(ConfigError, match="power of two"):
        progan.resolution_levels(24)


# --- The objective: schedule, reals, per-phase batches.


def test_schedule_of_phases():
    assert progan_objective.schedule(5, 3, 2) == [
        ("res4", 2, False, 0),
        ("fade8", 3, True, 3),
        ("res8", 3, False, 5),
        ("fade16", 4, True, 8),
        ("res16", 4, False, 10),
        ("fade32", 5, True, 13),
        ("res32", 5, False, 15),
    ]


@pytest.fixture(scope="module")
def exp(fake_data):
    return experiment.build(_smoke(fake_data))


def test_phases_alpha_and_padding_of_the_smoke_config(exp):
    obj = exp.objective
    assert obj.phases() == ("res4", "fade8", "res8")
    assert [obj.phase(s) for s in range(7)] == ["res4"] * 2 + ["fade8"] * 2 + ["res8"] * 3
    assert [float(obj.level_and_alpha(obj.phase(s), s)[1]) for s in range(6)] == [
        1.0, 1.0, 0.0, 0.5, 1.0, 1.0
    ]  # fmt: skip
    assert obj.image_shape == (6, 6, 1) and obj.resolution == 8  # 6x6 padded to 8x8
    images = jax.random.uniform(jax.random.key(0), (2, 6, 6, 1))
    x8 = obj.reals(images, 3, 1.0)
    np.testing.assert_allclose(x8[:, 1:7, 1:7], images * 2 - 1, atol=1e-6)
    np.testing.assert_array_equal(x8[:, 0], -1.0)  # padding: background 0 in [0, 1]
    # Reals crossfade like the generator: alpha 0 is the 4x4 image, upsampled.
    np.testing.assert_allclose(obj.reals(images, 3, 0.0), eq.upscale2d(obj.reals(images, 2, 1.0)))


def test_phase_batch_sizes_use_the_front_of_each_batch(exp):
    assert exp.phase_batch_sizes == {"fade8": 4, "res8": 4}
    full = exp.batches.get(2)["image"]  # [1, 8, 6, 6, 1]: batch 2 as read from the data
    assert exp.batch(0)["image"].shape == (1, 8, 6, 6, 1)  # res4: config.batch_size
    np.testing.assert_array_equal(exp.batch(2)["image"], full[:, :4])  # fade8: 4
    stacked = exp.stacked_batches(4, 2)["image"]  # res8, two steps in one call
    assert stacked.shape == (2, 1, 4, 6, 6, 1)
    np.testing.assert_array_equal(stacked[1], exp.batches.get(5)["image"][:, :4])


@pytest.mark.parametrize(
    "sizes,match", [({"fade16": 4}, "has the phases"), ({"res8": 16}, "in \\[1, config.batch")]
)
def test_bad_phase_batch_sizes_are_config_errors(fake_data, sizes, match):
    c = _smoke(fake_data)
    c.phase_batch_sizes = sizes
    with pytest.raises(ConfigError, match=match):
        experiment.build(c)


# --- End to end: SIGTERM in the fade-in, then resume == uninterrupted.


@pytest.fixture(scope="module")
def trained(fake_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("progan")
    # SIGTERM after step 3 (the first fade-in step, at alpha 0.5), then the same run again.
    return resume_fixtures.straight_and_resumed(_smoke(fake_data), root, stop_after=3)


def test_smoke_resumes_mid_fade_in_exactly(trained):
    straight, resumed = (
        resume_fixtures.metrics(trained / "straight"),
        resume_fixtures.metrics(trained / "resumed"),
    )
    drop = ("time/", "perf/", "eval/")
    strip = lambda ms: [{k: v for k, v in m.items() if not k.startswith(drop)} for m in ms]
    assert [m["step"] for m in straight] == [1, 2, 3, 4, 5, 6]
    assert strip(resumed) == strip(straight)  # every loss and norm, bitwise
    assert [m["alpha"] for m in straight] == [1.0, 1.0, 0.0, 0.5, 1.0, 1.0]
    for m in straight:
        assert np.isfinite(m["loss/discriminator"]) and m["drift"] >= 0
    png = "samples/samples_00000006.png"
    assert (trained / "straight" / png).read_bytes() == (trained / "resumed" / png).read_bytes()
