"""StyleGAN2, DiffAugment and ADA: modulation/demodulation against a direct per-sample
convolution; R1 and path-length penalties on linear networks; ADA's p rule; the augmentations
differentiable and content-independent; the smoke config end to end with a SIGTERM after
step 3, resumed bitwise as an uninterrupted run (ADA's p and the path-length mean included)."""

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import resume_fixtures
from PIL import Image

from gendl.augment import ada, diffaugment
from gendl.config import ConfigError
from gendl.evaluation import projection
from gendl.models import stylegan2 as sg2
from gendl.objectives import stylegan2 as sg2_objective
from gendl.training import experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _smoke(fake_data, arg="smoke"):
    from gendl import config as config_lib

    c = config_lib.sibling_config(str(ROOT / "configs" / "stylegan2.py"), "stylegan2", arg)
    c.data.manual_dir = fake_data["manual_dir"]
    c.data.data_dir = fake_data["data_dir"]
    c.log.every_steps = 1
    return c


# --- Modulated convolution.


def _direct(x, weight, styles, demodulate):
    """Sample by sample: the modulated (demodulated) weight written out, one convolution each."""
    out = []
    for i in range(x.shape[0]):
        w = np.asarray(weight) * np.asarray(styles[i])[None, None, :, None]
        if demodulate:
            w = w / np.sqrt(np.sum(w**2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        y = jax.lax.conv_general_dilated(
            x[i : i + 1], jnp.asarray(w), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        out.append(y[0])
    return np.stack(out)


@pytest.mark.parametrize("mode", sg2.MODCONV_MODES)
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_a_direct_per_sample_convolution(mode, demodulate):
    k = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k[0], (3, 5, 5, 4))
    weight = jax.random.normal(k[1], (3, 3, 4, 6))
    styles = jax.random.normal(k[2], (3, 4)) + 1.0
    got = sg2.modulated_conv(x, weight, styles, demodulate, mode)
    np.testing.assert_allclose(got, _direct(x, weight, styles, demodulate), rtol=1e-4, atol=1e-5)


def test_demodulation_gives_unit_output_variance_for_unit_inputs():
    # The paper's eq. 2-3: with i.i.d. unit-variance inputs each output has unit std.
    k = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(k[0], (2, 32, 32, 16))
    y = sg2.modulated_conv(x, jax.random.normal(k[1], (3, 3, 16, 8)), 5.0 * jnp.ones((2, 16)))
    assert float(jnp.std(y[:, 1:-1, 1:-1])) == pytest.approx(1.0, rel=0.05)


def test_resampling_preserves_a_constant_and_halves_or_doubles_the_size():
    x = jnp.full((1, 8, 8, 2), 3.0)
    up, down = sg2.upsample2d(x), sg2.downsample2d(x)
    assert up.shape == (1, 16, 16, 2) and down.shape == (1, 4, 4, 2)
    np.testing.assert_allclose(up[:, 2:-2, 2:-2], 3.0, rtol=1e-6)  # away from the zero padding
    np.testing.assert_allclose(down[:, 1:-1, 1:-1], 3.0, rtol=1e-6)


def _fir_depthwise(x, pad, gain=1.0, stride=1):
    """The plain formulation of models/stylegan2.py's separable filter: one depthwise
    convolution by the 4x4 outer([1,3,3,1]) kernel (normalised, times gain)."""
    f = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0])
    f = jnp.asarray(f / f.sum() * gain, x.dtype)
    c = x.shape[-1]
    kernel = jnp.broadcast_to(f[:, :, None, None], (4, 4, 1, c))
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), (pad, pad), None, None, ("NHWC", "HWIO", "NHWC"), c
    )


@pytest.mark.parametrize(
    "shape,pad,gain,stride",
    [  # the three uses (down, up, blur) and an uneven pad; even and odd sizes
        ((1, 9, 6, 2), (1, 1), 1.0, 2),
        ((2, 8, 8, 3), (2, 1), 4.0, 1),
        ((1, 9, 6, 2), (2, 2), 1.0, 1),
        ((2, 8, 7, 3), (0, 3), 2.0, 2),
    ],
)
def test_separable_fir_equals_the_depthwise_convolution_to_second_order(shape, pad, gain, stride):
    # float64, so an off-by-one tap or phase cannot hide in float32 rounding. Second order: R1
    # differentiates the discriminator's resampling twice.
    def value_grad_second(fir, x, cot):
        g = jax.grad(lambda x: jnp.sum(jnp.tanh(fir(x, pad, gain, stride)) * cot))
        second = jax.grad(lambda x: jnp.sum(jnp.square(g(x))))  # through the filter's VJP
        return fir(x, pad, gain, stride), g(x), second(x)

    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), shape, jnp.float64)
        cot = jax.random.normal(jax.random.key(1), _fir_depthwise(x, pad, gain, stride).shape)
        run = jax.jit(value_grad_second, static_argnums=0)
        got, want = run(sg2._fir, x, cot), run(_fir_depthwise, x, cot)
        assert got[0].dtype == jnp.float64
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_downsampling_conv_equals_the_plain_strided_convolution_to_second_order():
    # EqualizedConv takes stride-2 'VALID' convs through conv.py's phase input gradient
    # (tests/test_conv.py proves that path in float64); here: the wiring, scale and padding.
    layer = sg2.eq.EqualizedConv(5, 3, stride=2, padding="VALID")
    x = jax.random.normal(jax.random.key(0), (2, 9, 9, 4))
    v = layer.init(jax.random.key(1), x)
    scale = sg2.eq.weight_scale(3 * 3 * 4)

    def plain(x):
        w = v["params"]["kernel"] * scale
        y = jax.lax.conv_general_dilated(
            x, w, (2, 2), "VALID", None, None, ("NHWC", "HWIO", "NHWC")
        )
        return y + v["params"]["bias"]

    @functools.partial(jax.jit, static_argnums=0)
    def value_grad_second(f, x):
        g = jax.grad(lambda x: jnp.sum(jnp.tanh(f(x))))
        return f(x), g(x), jax.grad(lambda x: jnp.sum(jnp.square(g(x))))(x)

    got = value_grad_second(lambda x: layer.apply(v, x), x)
    for a, b in zip(got, value_grad_second(plain, x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bias_add_gradients_equal_the_plain_add_to_second_order():
    y = jax.random.normal(jax.random.key(0), (3, 5, 4, 6))
    b = jax.random.normal(jax.random.key(1), (6,))

    @functools.partial(jax.jit, static_argnums=0)
    def grads(add, y, b):
        loss = lambda y, b: jnp.sum(jnp.tanh(add(y, b)) ** 2)
        g = jax.grad(loss, argnums=(0, 1))
        # The R1-like second order: the input gradient's norm, differentiated by the bias.
        second = jax.grad(lambda y, b: jnp.sum(jnp.square(g(y, b)[0])), argnums=(0, 1))
        return g(y, b), second(y, b)

    got, want = grads(sg2.eq.add_bias, y, b), grads(lambda y, b: y + b, y, b)
    for a, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, w, rtol=1e-5, atol=1e-5)


def test_upsampling_puts_the_pixels_at_even_positions_then_filters():
    x = jax.random.normal(jax.random.key(2), (2, 5, 4, 3))
    stuffed = jnp.zeros((2, 10, 8, 3)).at[:, ::2, ::2].set(x)
    np.testing.assert_allclose(
        sg2.upsample2d(x), _fir_depthwise(stuffed, (2, 1), gain=4.0), rtol=1e-5, atol=1e-6
    )


def test_networks_shapes_mixing_and_conditioning():
    g = sg2.Generator(resolution=8, channels=3, w_dim=8, mapping_layers=2, fmap_base=16, fmap_max=4)
    d = sg2.Discriminator(resolution=8, fmap_base=16, fmap_max=4, num_classes=10)
    z = jax.random.normal(jax.random.key(0), (4, 8))
    assert g.num_ws == 4  # 4x4: conv, toRGB; 8x8: two convs (the first shares toRGB's w)

    @jax.jit  # one program: flax run op by op costs a minute of dispatch on two cores
    def run(z):
        v = g.init(jax.random.key(1), z)
        img = g.apply(v, z, noise_key=jax.random.key(2))
        w = g.apply(v, z, method=sg2.Generator.map)
        ws = jnp.broadcast_to(w[:, None], (4, 4, 8))
        same = g.apply(v, ws, None, method=sg2.Generator.synthesize) - g.apply(v, z)
        dv = d.init(jax.random.key(4), img, jnp.zeros((4,), jnp.int32))
        return img, same, d.apply(dv, img, jnp.arange(4))

    img, same, scores = run(z)
    assert img.shape == (4, 8, 8, 3) and scores.shape == (4,)
    np.testing.assert_allclose(same, 0.0, atol=1e-6)  # __call__ = map, then synthesize
    w1, w2 = jnp.zeros((2, 3)), jnp.ones((2, 3))
    mixed = sg2_objective.mix_styles(w1, w2, 6, jax.random.key(3), prob=1.0)
    switched = np.asarray(mixed[0, :, 0])
    cut = int(np.argmax(switched))
    assert 1 <= cut <= 5 and np.all(switched[:cut] == 0) and np.all(switched[cut:] == 1)
    np.testing.assert_array_equal(sg2_objective.mix_styles(w1, w2, 6, jax.random.key(3), 0.0), 0)


# --- Penalties on analytic cases.


def test_r1_penalty_of_a_linear_discriminator_is_its_squared_weight_norm():
    a = jnp.arange(12.0).reshape(1, 2, 2, 3) / 10.0
    score = lambda x: jnp.sum(x * a, axis=(1, 2, 3)) + 7.0  # D(x) = <a, x> + b
    real = jax.random.normal(jax.random.key(0), (5, 2, 2, 3))
    np.testing.assert_allclose(
        sg2_objective.r1_penalty(score, real), np.full(5, float(jnp.sum(a**2))), rtol=1e-6
    )
    quad = lambda x: jnp.sum(x**2, axis=(1, 2, 3))  # grad 2x: penalty 4 ||x||^2
    np.testing.assert_allclose(
        sg2_objective.r1_penalty(quad, real), 4 * jnp.sum(real**2, axis=(1, 2, 3)), rtol=1e-5
    )


def test_path_length_of_a_linear_generator():
    # G(ws) = c * mean over the layers' w's, as an 8x8 image: J^T y = c y / num_ws for each
    # layer's w, so the length is c ||y|| / num_ws with y = eps / sqrt(64).
    c, num_ws, key = 3.0, 2, jax.random.key(5)
    synth = lambda ws: c * jnp.mean(ws, axis=1).reshape(-1, 8, 8, 1)
    ws = jax.random.normal(jax.random.key(0), (4, num_ws, 64))
    lengths = jax.jit(sg2_objective.path_lengths, static_argnums=0)(synth, ws, key)
    y = jax.random.normal(key, (4, 8, 8, 1)) / 8.0
    expected = c * jnp.sqrt(jnp.sum(y**2, axis=(1, 2, 3))) / num_ws
    np.testing.assert_allclose(lengths, expected, rtol=1e-5)
    # E||J^T y||^2 = c^2 / num_ws^2 * E||eps||^2 / 64 = (c / num_ws)^2.
    big = jax.jit(sg2_objective.path_lengths, static_argnums=0)(
        synth, jnp.zeros((4000, num_ws, 64)), key
    )
    assert float(jnp.sqrt(jnp.mean(big**2))) == pytest.approx(c / num_ws, rel=0.02)


# --- ADA's p.


def test_ada_p_rule():
    kw = dict(batch_size=32, interval=4, target=0.6, speed_kimg=500)
    step = 32 * 4 / 500_000
    up = ada.adjust_p(jnp.float32(0.3), 7.0, 10.0, **kw)  # r_t 0.7 > 0.6: overfitting, raise
    down = ada.adjust_p(jnp.float32(0.3), 5.0, 10.0, **kw)
    np.testing.assert_allclose([up, down], [0.3 + step, 0.3 - step], rtol=1e-6)
    assert float(ada.adjust_p(jnp.float32(0.0), -3.0, 10.0, **kw)) == 0.0  # clipped at 0
    assert float(ada.adjust_p(jnp.float32(1.0), 10.0, 10.0, **kw)) == 1.0  # and at 1


def test_lazy_regularisation_phases(fake_data):
    c = _smoke(fake_data)
    c.objective.r1_interval, c.objective.pl_interval = 16, 4  # the paper's
    obj = experiment.build(c).objective
    assert obj.phases() == ("main", "pl", "r1", "r1_pl")
    phases = [obj.phase(s) for s in range(33)]
    assert [s for s, p in enumerate(phases) if "r1" in p] == [0, 16, 32]
    assert [s for s, p in enumerate(phases) if "pl" in p] == list(range(0, 33, 4))
    c.objective.pl_weight = 0.0  # no path length: its phases are gone
    assert experiment.build(c).objective.phases() == ("main", "r1")


def test_ada_accumulates_signs_and_adjusts_every_interval(fake_data):
    obj = experiment.build(_smoke(fake_data)).objective  # interval 2, step 8 * 2 / 100
    s = obj.init_objective_state(None)
    s = obj._ada_update(s, 0, 8.0, 8)  # step 0: all real scores positive; not yet due
    assert float(s["ada_p"]) == 0.0 and float(s["ada_count"]) == 8.0
    s = obj._ada_update(s, 1, -2.0, 8)  # r_t = 6 / 16 = 0.375 < 0.6: p would drop, clipped at 0
    assert (float(s["ada_p"]), float(s["ada_count"])) == (0.0, 0.0)
    s = obj._ada_update(obj._ada_update(s, 2, 8.0, 8), 3, 8.0, 8)  # r_t = 1
    assert float(s["ada_p"]) == pytest.approx(0.16)


# --- The augmentations.


def _pair():
    k1, k2 = jax.random.split(jax.random.key(7))
    real = jax.random.uniform(k1, (6, 8, 8, 3), minval=-1, maxval=1)
    fake = real.at[1:].set(jax.random.uniform(k2, (5, 8, 8, 3), minval=-1, maxval=1))
    return real, fake


AUGMENTS = {
    **{op: functools.partial(diffaugment.augment, ops=(op,)) for op in diffaugment.OPS},
    "ada_geometric": lambda x, k: ada.geometric(x, k, 1.0),
    "ada_color": lambda x, k: ada.color(x, k, 1.0),
}


@pytest.mark.parametrize("name", sorted(AUGMENTS))
def test_augmentations_are_the_same_for_real_and_fake_and_differentiable(name):
    aug, key = jax.jit(AUGMENTS[name]), jax.random.key(3)
    real, fake = _pair()
    a, b = aug(real, key), aug(fake, key)
    # Image 0 is in both batches: the same transform; the others differ with their content.
    np.testing.assert_array_equal(a[0], b[0])
    assert float(jnp.max(jnp.abs(a - real))) > 1e-3  # the op did something
    # Differentiable: the vjp of the op is its jacobian (each op is affine in the image),
    # checked against a finite difference along a random direction.
    v = jax.random.normal(jax.random.key(4), real.shape)
    _, tangent = jax.jit(lambda x, v: jax.jvp(lambda x: aug(x, key), (x,), (v,)))(real, v)
    finite = (aug(real + 1e-2 * v, key) - aug(real, key)) / 1e-2
    np.testing.assert_allclose(tangent, finite, atol=2e-3)
    grads = jax.jit(jax.grad(lambda x: jnp.sum(aug(x, key) ** 2)))(real)
    assert bool(jnp.all(jnp.isfinite(grads))) and float(jnp.max(jnp.abs(grads))) > 0


def test_ada_at_p_zero_is_the_identity_and_grey_colour_ops():
    real, _ = _pair()
    np.testing.assert_array_equal(jax.jit(ada.augment)(real, jax.random.key(0), 0.0), real)
    matrices = jax.jit(ada.color_matrices, static_argnums=(1, 2))
    grey = matrices(jax.random.key(1), 500, 1, 1.0)  # [n, 1, 2]: x -> a x + b
    scale = np.abs(np.asarray(grey[:, 0, 0]))
    # Contrast lognormal(0, (0.5 ln 2)^2) times a luma flip (sign) half the time.
    assert np.median(np.log2(scale)) == pytest.approx(0.0, abs=0.08)
    assert np.mean(np.asarray(grey[:, 0, 0]) < 0) == pytest.approx(0.5, abs=0.07)


def test_unknown_augment_and_policy_are_config_errors(fake_data):
    c = _smoke(fake_data)
    c.objective.augment = "mixup"
    with pytest.raises(ConfigError, match="diffaug"):
        experiment.build(c)
    with pytest.raises(ConfigError, match="comma-separated"):
        diffaugment.parse_policy("color,rotate")


# --- End to end: SIGTERM after step 3, then resume == uninterrupted.


@pytest.fixture(scope="module")
def trained(fake_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("stylegan2")
    # SIGTERM after step 3, then the same run again.
    return resume_fixtures.straight_and_resumed(_smoke(fake_data), root, stop_after=3)


def test_smoke_resumes_exactly_with_ada_p_and_path_length_mean(trained):
    straight, resumed = (
        resume_fixtures.metrics(trained / "straight"),
        resume_fixtures.metrics(trained / "resumed"),
    )
    drop = ("time/", "perf/", "eval/")
    strip = lambda ms: [{k: v for k, v in m.items() if not k.startswith(drop)} for m in ms]
    assert [m["step"] for m in straight] == [1, 2, 3, 4, 5, 6]
    assert strip(resumed) == strip(straight)  # every loss and norm, p and pl_mean, bitwise
    # Penalties on the lazy steps 0, 2, 4 only; p moves every 2 steps; pl_mean accumulates.
    assert ["r1_penalty" in m for m in straight] == [True, False] * 3
    assert ["pl_penalty" in m for m in straight] == [True, False] * 3
    assert straight[-1]["pl_mean"] > straight[0]["pl_mean"] > 0
    p = [m["ada_p"] for m in straight]
    assert p[0] == 0.0 or p[0] == pytest.approx(0.16)
    assert p[0] == p[1] and all(x in (0.0, 0.16, 0.32, 0.48) for x in np.round(p, 6))
    png = "samples/samples_00000006.png"
    assert (trained / "straight" / png).read_bytes() == (trained / "resumed" / png).read_bytes()


def test_sample_truncation_towards_the_tracked_mean_w(trained, tmp_path):
    from gendl.evaluation import runs, workdir

    run = runs.load_run(str(trained / "straight"))
    obj, variables = run.exp.objective, run.state.variables()
    w_avg = variables["generator"]["w_avg"]["w"]
    assert float(jnp.max(jnp.abs(w_avg))) > 0  # tracked during training
    noise = obj.sample_noise(jax.random.key(0), 4)
    at_mean = obj.sample_truncated(variables, noise, 0.0)
    assert at_mean.shape == (4, 6, 6, 1)  # cropped back to the data's 6x6
    np.testing.assert_allclose(at_mean[1:], jnp.broadcast_to(at_mean[:1], (3, 6, 6, 1)), atol=1e-6)
    np.testing.assert_array_equal(
        obj.sample_truncated(variables, noise, 1.0), obj.sample(variables, noise)
    )
    # gendl.sample --truncation=0: every image is the mean w's.
    images, _ = workdir.export_npz(
        str(trained / "straight"), 3, str(tmp_path / "s.npz"), batch_size=3, truncation=0.0
    )
    assert images.dtype == np.uint8 and images.shape == (3, 6, 6, 1)
    np.testing.assert_array_equal(images, np.broadcast_to(images[:1], images.shape))


# --- Using the trained generator: style-mixing and truncation grids, the interpolation GIF,
# the projector (on the straight smoke run above).


@pytest.fixture(scope="module")
def smoke_run(trained):
    from gendl.evaluation import runs

    return runs.load_run(str(trained / "straight"))


def _direct_images(obj, variables, ws):
    """The generator's synthesis applied directly to ws, 8x8 centre-cropped to the data's 6x6."""
    g = variables["generator"]
    images = obj.generator.apply({"params": g["params"]}, ws, method=sg2.Generator.synthesize)
    return np.clip((np.asarray(images)[:, 1:7, 1:7] + 1.0) / 2.0, 0.0, 1.0)  # centre crop


def test_style_mixing_cells_take_a_coarse_and_b_fine_styles(smoke_run):
    from gendl.evaluation.style_grids import StyleMixing

    obj, variables = smoke_run.exp.objective, smoke_run.state.variables()
    ev = StyleMixing(smoke_run.exp, {"rows": 2, "columns": 3})
    assert obj.num_ws == 4 and ev.crossover == 2  # 8x8: coarse capped at half the ws
    z_a, _, z_b, _ = ev.sources()
    top, left, cells = (np.asarray(x) for x in ev._grid(variables, *ev.sources()))
    w_a, w_b = (
        obj._map(variables["generator"]["params"], z_a, None),
        obj._map(variables["generator"]["params"], z_b, None),
    )
    for r in range(2):
        for c in range(3):
            ws = jnp.stack([w_a[c], w_a[c], w_b[r], w_b[r]])[None]
            np.testing.assert_allclose(
                cells[r * 3 + c], _direct_images(obj, variables, ws)[0], atol=1e-5
            )
    np.testing.assert_allclose(top, obj.sample(variables, z_a), atol=1e-6)
    np.testing.assert_allclose(left, obj.sample(variables, z_b), atol=1e-6)
    _, pictures = ev.run(variables)
    assert pictures["style_mixing"].shape == (2 + 3 * 8, 2 + 4 * 8, 1)  # (2 + 1) x (3 + 1) tiles


def test_truncation_grid_columns(trained, smoke_run):
    from gendl.evaluation import workdir
    from gendl.evaluation.style_grids import TruncationGrid

    obj, variables = smoke_run.exp.objective, smoke_run.state.variables()
    ev = TruncationGrid(smoke_run.exp, {"rows": 3})
    cells = ev.cells(variables)  # [rows, psi, H, W, C]
    assert cells.shape == (3, 6, 6, 6, 1) and ev.psis == (-1.0, -0.5, 0.0, 0.5, 0.7, 1.0)
    at_mean = cells[:, ev.psis.index(0.0)]
    np.testing.assert_allclose(at_mean, np.broadcast_to(at_mean[:1], at_mean.shape), atol=1e-6)
    z, _ = obj.latents(jax.random.key(0), 3)
    np.testing.assert_allclose(cells[:, -1], obj.sample(variables, z), atol=1e-6)
    assert not np.allclose(cells[:, 0], cells[:, -1])  # psi = -1 mirrors w about the mean
    _, pictures = ev.run(variables)
    assert pictures["truncation"].shape == (2 + 3 * 8, 2 + 6 * 8, 1)
    # From the config (full configs run it at the end of training) through gendl.evaluate.
    workdir.evaluate(str(trained / "straight"), names=["truncation"])
    assert (trained / "straight" / "samples" / "eval_truncation_truncation_00000006.png").exists()


def test_interpolation_gif_frames_and_first_keyframe(trained, smoke_run, tmp_path):
    from gendl.evaluation import latent_animation
    from gendl.monitoring import images as images_lib

    frames = latent_animation.interpolation_gif(
        str(trained / "straight"), str(tmp_path), frames=7, keyframes=3, seed=5
    )
    gif = Image.open(tmp_path / "interpolation.gif")
    assert gif.n_frames == 7 and (tmp_path / "keyframes.png").exists()
    obj, variables = smoke_run.exp.objective, smoke_run.state.variables()
    z, _ = obj.latents(jax.random.key(5), 3)
    keyframes = images_lib.to_uint8(np.asarray(obj.sample(variables, z)))
    gif.seek(0)
    np.testing.assert_array_equal(np.asarray(gif.convert("L")), keyframes[0, ..., 0])
    # Segments of 3, 2, 2 frames: keyframe 1 at frame 3, keyframe 2 at frame 5.
    assert list(latent_animation.keyframe_indices(7, 3)) == [0, 3, 5]
    np.testing.assert_array_equal(frames[[0, 3, 5]], keyframes)
    gif.seek(3)
    np.testing.assert_array_equal(np.asarray(gif.convert("L")), keyframes[1, ..., 0])


def test_projector_recovers_a_generated_image(smoke_run):
    from gendl.evaluation import extractors

    obj, variables = smoke_run.exp.objective, smoke_run.state.variables()
    z, _ = obj.latents(jax.random.key(3), 1)
    target = np.asarray(obj.sample(variables, z))[0]
    # A stand-in feature network (a fixed random projection of the pixels) for the
    # classifier's features, so the feature term is exercised without training one.
    proj = jax.random.normal(jax.random.key(9), (36, 16))
    fake = extractors.Extractor(
        "fake", "", (6, 6, 1), None, lambda x: (jnp.tanh(x.reshape(x.shape[0], -1) @ proj), None)
    )
    settings = projection.Settings(steps=40, w_samples=256, snapshots=2, initial_lr=0.05)
    result = projection.Projector(smoke_run, fake, settings).project(target)
    assert result["distance"] < 0.5 * result["start_distance"]  # start: the mean w's image
    mean_image = obj.sample_truncated(variables, z, 0.0)[0]
    assert result["pixel_mse"] < float(np.mean((np.asarray(mean_image) - target) ** 2))
    assert result["ws"].shape == (4, 8) and result["progress"].shape == (3, 6, 6, 1)
    assert result["history"].shape == (40,)


def test_projector_refuses_a_non_image(trained, tmp_path):
    from gendl.data.errors import DataError

    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(DataError, match="not a readable image") as e:
        projection.project_file(str(trained / "straight"), str(bad), str(tmp_path / "out"))
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()


def test_projection_noise_regulariser_and_learning_rate():
    # A map constant along x and y is perfectly autocorrelated: (1)^2 + (1)^2 per pooled size.
    ones = jnp.ones((1, 16, 16, 1))
    assert float(projection.noise_regulariser([ones])) == pytest.approx(4.0)
    s = projection.Settings(steps=100)
    lr = [float(projection.learning_rate(t, s)) for t in (0.0, 0.025, 0.5, 0.875, 1.0)]
    assert lr == pytest.approx([0.0, 0.05, 0.1, 0.05, 0.0], abs=1e-6)


def test_projector_refuses_a_workdir_without_a_style_based_generator(
    trained, tmp_path, monkeypatch
):
    from gendl.evaluation import predict

    real_of = predict.of

    def without_synthesis(exp):  # what a ProGAN or DCGAN run provides: sample, sample_noise
        p = real_of(exp)
        keep = {k: p.functions[k] for k in ("sample", "sample_noise")}
        return predict.Predict(keep, "progan", None)

    monkeypatch.setattr(predict, "of", without_synthesis)
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(image)
    with pytest.raises(ConfigError, match="only StyleGAN2 runs") as e:
        projection.project_file(str(trained / "straight"), str(image), str(tmp_path / "out"))
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()
