"""Super-resolution (SRResNet, SRGAN): the networks, the derived low-resolution input and the
bicubic floor, PSNR/SSIM conventions by hand, the classifier feature network, and one
end-to-end chain (SRResNet on MNIST -> SRGAN from it with a frozen classifier's content loss
-> upscaling files) that serves the init_from, frozen-network and translate assertions."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import traverse_util
from PIL import Image
from test_configs import load

from gendl import checkpointing
from gendl.config import ConfigError
from gendl.data import resolution
from gendl.evaluation import file_translation, super_resolution, translation
from gendl.models import classifier as classifier_models
from gendl.models import srresnet
from gendl.objectives import feature_networks
from gendl.training import experiment, init_from, loop


def test_depth_to_space_places_channels_as_sub_pixels():
    # One pixel of r*r*c = 2*2*2 channels: channel (i*r + j)*c + k -> sub-pixel (i, j), channel k.
    x = jnp.arange(8.0).reshape(1, 1, 1, 8)
    y = srresnet.depth_to_space(x, 2)
    assert y.shape == (1, 2, 2, 2)
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 2], [4, 6]])
    np.testing.assert_array_equal(y[0, :, :, 1], [[1, 3], [5, 7]])


def test_the_papers_generator_by_hand_and_any_input_size():
    net = srresnet.SRResNet(out_channels=3, scale=4, blocks=16, channels=64)
    shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 5, 7, 3)), False))
    n = sum(leaf.size for leaf in jax.tree.leaves(shapes["params"]))
    c = 64
    head = 9 * 9 * 3 * c + c + c  # conv + bias, PReLU slopes
    block = 2 * 9 * c * c + 2 * 2 * c + c  # two bias-free convs, two BN (scale, bias), PReLU
    trunk = 9 * c * c + 2 * c
    up = 9 * c * 4 * c + 4 * c + c
    tail = 9 * 9 * c * 3 + 3
    assert n == head + 16 * block + trunk + 2 * up + tail == 1_548_547
    # Fully convolutional: a 5x7 input becomes 20x28, and BN statistics exist per block.
    out = jax.eval_shape(
        lambda: net.apply(
            net.init(jax.random.key(0), jnp.zeros((1, 5, 7, 3)), False),
            jnp.zeros((2, 5, 7, 3)),
            False,
        )
    )
    assert out.shape == (2, 20, 28, 3)
    assert len(shapes["batch_stats"]) == 2 * 16 + 1


def test_discriminator_gives_one_logit_per_image():
    d = srresnet.SRGANDiscriminator(ndf=4, dense=8)
    x = jnp.zeros((3, 28, 28, 1))
    out = jax.eval_shape(lambda: d.apply(d.init(jax.random.key(0), x, False), x, False))
    assert out.shape == (3,)


def test_downscale_is_pillows_antialiased_bicubic_on_the_8_bit_grid():
    rng = np.random.default_rng(0)
    # Smooth random images (noise blurred by upscaling), where the two kernels agree best.
    small = rng.integers(0, 256, (4, 8, 8, 3), np.uint8)
    images = np.stack(
        [np.asarray(Image.fromarray(s).resize((32, 32), Image.BICUBIC)) for s in small]
    )
    ours = np.asarray(resolution.downscale(images / 255.0, 4))
    assert ours.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(ours * 255, np.rint(ours * 255), atol=1e-3)  # 8-bit values
    pil = np.stack([np.asarray(Image.fromarray(i).resize((8, 8), Image.BICUBIC)) for i in images])
    assert np.mean(np.abs(ours * 255 - pil)) < 1.5
    # A constant image stays constant both ways; upscale is clipped to [0, 1].
    grey = np.full((1, 8, 8, 1), 0.4)
    np.testing.assert_allclose(resolution.downscale(grey, 2), np.round(0.4 * 255) / 255, atol=1e-6)
    np.testing.assert_allclose(resolution.upscale(grey[:, :2, :2], 4), 0.4, atol=1e-6)
    spike = np.zeros((1, 4, 4, 1))
    spike[0, 1, 1] = 1.0
    up = np.asarray(resolution.upscale(spike, 4))
    assert up.shape == (1, 16, 16, 1) and up.min() >= 0 and up.max() <= 1
    with pytest.raises(ConfigError, match="power of two"):
        resolution.check_scale(3, 24, 24)
    with pytest.raises(ConfigError, match="divide"):
        resolution.check_scale(4, 30, 28)


def test_luminance_psnr_ssim_conventions_by_hand():
    # BT.601 luminance of MATLAB's rgb2ycbcr: white 235, black 16, pure red 16 + 65.481.
    rgb = np.array([[[[1, 1, 1], [0, 0, 0], [1, 0, 0]]]], np.float32)
    y = np.asarray(super_resolution.luminance(rgb))[0, 0, :, 0] * 255
    np.testing.assert_allclose(y, [235.0, 16.0, 81.481], atol=1e-3)
    grey = np.full((1, 2, 2, 1), 0.3, np.float32)
    np.testing.assert_array_equal(super_resolution.luminance(grey), grey)  # its own luminance
    # Target grey 0.5; output differs by 0.1 on the 4-pixel border only (20x20 image).
    target = np.full((1, 20, 20, 3), 0.5, np.float32)
    output = target.copy()
    output[:, :4] += 0.1
    scores = jax.jit(super_resolution.scores, static_argnums=2)
    s = {k: float(v[0]) for k, v in scores(output, target, 4).items()}
    # Border cropped: identical luminance, PSNR at its 1e-12 MSE floor (120 dB), SSIM 1.
    assert s["psnr_y"] == pytest.approx(120.0) and s["ssim_y"] == pytest.approx(1.0, abs=1e-6)
    # Whole RGB image: 80 of 400 pixels off by 0.1 -> MSE 0.002.
    assert s["psnr"] == pytest.approx(10 * np.log10(1 / 0.002), abs=1e-3)
    # Luminance PSNR of a uniform error: Y changes by (65.481+128.553+24.966)/255 * 0.1.
    shifted = target + 0.1
    dy = (65.481 + 128.553 + 24.966) / 255 * 0.1
    s = scores(shifted, target, 4)
    assert float(s["psnr_y"][0]) == pytest.approx(-20 * np.log10(dy), abs=1e-3)
    assert float(s["ssim"][0]) == pytest.approx(float(translation.ssim(shifted, target)[0]))


def test_scores_equal_scikit_images_on_fixed_arrays():
    """The four figures against scikit-image 0.26.0 on the same arrays (computed there once:
    peak_signal_noise_ratio(data_range=1); structural_similarity(gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1 for RGB);
    rgb2ycbcr(x)[..., 0] / 255 with 4 px cropped for the luminance figures)."""
    i, j, c = np.meshgrid(np.arange(40), np.arange(36), np.arange(3), indexing="ij")
    target = (np.sin(0.37 * i + 0.11 * j + 1.3 * c) + 1.0) / 2.0
    output = np.clip(target + 0.08 * np.cos(0.53 * i * j / 7.0 + c) - 0.02, 0.0, 1.0)
    s = super_resolution.scores(
        jnp.asarray(output[None], jnp.float32), jnp.asarray(target[None], jnp.float32), 4
    )
    skimage = {
        "psnr": 25.13310111250837,
        "ssim": 0.9494717191471295,
        "psnr_y": 27.975301631361905,
        "ssim_y": 0.9395017131731903,
    }
    for name, value in skimage.items():
        assert float(s[name][0]) == pytest.approx(value, abs=2e-5), name


def test_classifier_features_are_the_classifiers_own_conv_activations():
    module = classifier_models.ConvClassifier(num_classes=10, channels=(4, 6), hidden=8)
    x = jax.random.uniform(jax.random.key(1), (2, 28, 28, 1))
    variables = module.init(jax.random.key(0), x)

    @jax.jit
    def both(variables, x):
        _, state = module.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
        inner = state["intermediates"]
        theirs = [nn.relu(inner[f"conv{k}"]["__call__"][0]) for k in (0, 1)]
        ours = [
            feature_networks.classifier_conv_features(module, variables["params"], x, k)
            for k in (0, 1)
        ]
        return ours, theirs

    for ours, theirs in zip(*both(variables, x), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert ours.shape == (2, 14, 14, 6)  # conv1 runs after the first pool, before the second
    with pytest.raises(ConfigError, match="Unknown feature network"):
        feature_networks.get("resnet:mnist", (28, 28, 1))
    with pytest.raises(ConfigError, match="conv0, conv1"):
        feature_networks.get("classifier:mnist:conv7", (28, 28, 1))


def _config(name, manual_dir, data_dir, **objective):
    c = load(name, "mnist,smoke")
    c.data.manual_dir, c.data.data_dir = manual_dir, data_dir
    c.total_steps = 2
    c.batch_size = 8
    c.log.every_steps = 1
    c.log.sample_every_steps = 2
    c.checkpoint.every_steps = 1
    c.evals.super_resolution.num_examples = 16
    c.objective.update(objective)
    return c


@pytest.fixture(scope="module")
def chain(fake_data, tmp_path_factory):
    """SRResNet trained 2 steps; SRGAN from it (init_from) with the content loss in a tiny
    MNIST classifier that the feature network builds on first need, 1 MSE step + 1
    adversarial step."""
    root = tmp_path_factory.mktemp("sr")
    args = (fake_data["manual_dir"], fake_data["data_dir"])
    loop.train(_config("srresnet", *args), str(root / "srresnet"))
    classifier = dict(
        classifier_workdir=str(root / "classifier"),
        classifier_overrides={"total_steps": 2, "batch_size": 8, "checkpoint": {"every_steps": 1}},
    )
    c = _config("srgan", *args, content="classifier:mnist", feature_network=classifier)
    c.init_from = str(root / "srresnet")
    loop.train(c, str(root / "srgan"))  # builds the classifier first, on first need
    exp = experiment.build(c)  # loads the frozen network once
    return root, c, exp


def _metrics(workdir):
    with open(workdir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def _flat(tree):
    return traverse_util.flatten_dict(jax.device_get(tree), sep="/")


def test_srresnet_run_reports_every_figure_and_the_grid(chain):
    root, _, _ = chain
    final = _metrics(root / "srresnet")[-1]
    for prefix in ("", "bicubic_"):
        for name in ("psnr_y", "ssim_y", "psnr", "ssim"):
            assert np.isfinite(final[f"eval/super_resolution/{prefix}{name}"])
    assert "loss/generator_adversarial" not in final and final["loss/mse"] > 0
    grid = np.asarray(Image.open(root / "srresnet" / "samples" / "samples_00000002.png"))
    assert grid.shape[1] > 3 * grid.shape[0]  # rows of low-res | bicubic | model | target


def test_bicubic_floor_is_the_pillow_pipelines_psnr(chain, fake_data):
    root, c, exp = chain
    from gendl.evaluation import evaluators

    ev = evaluators.build(exp, "super_resolution", c.evals.super_resolution)
    images = ev.data.read(np.arange(16), np.random.default_rng(0))["image"]

    def pil(a, n):
        return np.asarray(Image.fromarray(a[..., 0]).resize((n, n), Image.BICUBIC))[..., None]

    bicubic = np.stack([pil(pil(i, 7), 28) for i in images]) / 255.0
    mse = np.mean((bicubic - images / 255.0) ** 2, axis=(1, 2, 3))
    expected = np.mean(10 * np.log10(1 / mse))
    final = _metrics(root / "srresnet")[-1]
    assert final["eval/super_resolution/bicubic_psnr"] == pytest.approx(expected, abs=0.3)


def test_init_from_carries_the_srresnet_generator_into_srgan(chain):
    root, c, exp = chain
    theirs = _flat(init_from.network_params(str(root / "srresnet"), "generator"))
    state = loop._fresh_state(exp, c, str(root / "unused"))
    ours = _flat(state.params["generator"])
    assert ours.keys() == theirs.keys()
    for k in ours:
        np.testing.assert_array_equal(ours[k], theirs[k])
    assert set(state.params) == {"generator", "discriminator"}  # D starts fresh


def test_frozen_feature_network_is_never_trained_or_saved(chain):
    root, c, exp = chain
    classifier = _flat(init_from.network_params(str(root / "classifier"), "classifier"))
    frozen = _flat(exp.frozen["features"]["params"])
    before = {k: np.array(v) for k, v in frozen.items()}
    assert frozen.keys() == classifier.keys()
    state = exp.init_state()
    for step in range(2):  # one pretraining and one adversarial step
        state, _ = exp.train_step(state, exp.batch(step), step)
    for k, v in _flat(exp.frozen["features"]["params"]).items():
        np.testing.assert_array_equal(v, before[k])
        np.testing.assert_array_equal(v, classifier[k])
    tree, step = checkpointing.read_tree(str(root / "srgan" / "checkpoints"))
    assert step == 2
    assert set(tree["params"]) == {"generator", "discriminator"}
    assert set(tree["opt_state"]) == {"generator", "discriminator"}
    # The phases: an MSE-only pretraining step, then the perceptual loss.
    first, second = _metrics(root / "srgan")[:2]
    assert "loss/content" not in first and "loss/discriminator" not in first
    assert second["loss/generator"] == pytest.approx(
        second["loss/content"] + 1e-3 * second["loss/generator_adversarial"], rel=1e-5
    )


def test_translate_upscales_each_image_at_its_own_size(chain, tmp_path):
    root, _, _ = chain
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (5, 6), np.uint8), "L").save(inputs / "a.png")
    Image.fromarray(rng.integers(0, 256, (7, 7, 4), np.uint8), "RGBA").save(inputs / "b.png")
    Image.fromarray(rng.integers(0, 256, (5, 6), np.uint8), "L").save(inputs / "c.png")
    written = file_translation.translate_files(
        str(root / "srresnet"), str(inputs), str(tmp_path / "o")
    )
    sizes = [Image.open(p).size for p in written]
    assert [p.split("/")[-1] for p in written] == ["a.png", "b.png", "c.png"]
    assert sizes == [(24, 20), (28, 28), (24, 20)]  # x4, (width, height)
    assert all(Image.open(p).mode == "L" for p in written)  # the MNIST model is grey


def test_compare_with_scores_another_run_beside_this_one(chain):
    """compare_with=<the SRResNet run> scores it exactly as its own evaluation did, and
    puts its column between bicubic and the model: low | bicubic | SRResNet | SRGAN | target."""
    root, c, exp = chain
    from gendl.evaluation import evaluators, runs

    cfg = ml_collections.ConfigDict(c.evals.super_resolution.to_dict())
    cfg.compare_with = str(root / "srresnet")
    figures, pictures = evaluators.build(exp, "super_resolution", cfg).run(
        runs.load_run(str(root / "srgan")).state.variables()
    )
    own = _metrics(root / "srresnet")[-1]
    for name in ("psnr_y", "ssim_y", "psnr", "ssim"):
        assert figures[f"compare_{name}"] == pytest.approx(
            own[f"eval/super_resolution/{name}"], rel=1e-5
        )
    assert figures["compare_psnr"] != figures["psnr"]  # two different generators
    plain = evaluators.build(exp, "super_resolution", c.evals.super_resolution).run(
        runs.load_run(str(root / "srgan")).state.variables()
    )
    assert plain[0]["psnr"] == pytest.approx(figures["psnr"], rel=1e-6)
    wide, narrow = pictures["upscaled"], plain[1]["upscaled"]
    assert wide.shape[0] == narrow.shape[0]
    assert wide.shape[1] == pytest.approx(narrow.shape[1] * 5 / 4, rel=0.05)  # one more column
