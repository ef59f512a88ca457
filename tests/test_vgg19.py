"""VGG19 as a frozen feature network (gendl/models/vgg19.py) and its torch- and
TensorFlow-free weights loader (gendl/models/pretrained_files.py).

The weight files are written by the tests: torchvision's layout by hand
(tests/torch_save_fixtures.py, both torch.save formats), Keras's with h5py (skipped without
it); where a Python with torch is at hand, by torch.save itself, with torch's features of a
fixed input to match. No weights are downloaded.
"""

import os
import pathlib
import pickle
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch_save_fixtures

from gendl.data.errors import DataError
from gendl.models import pretrained_files, vgg19

TORCH_PYTHON = pathlib.Path.home() / "torchvenv" / "bin" / "python"
TORCH_REFERENCE = pathlib.Path(__file__).with_name("torch_vgg19_reference.py")

# torchvision's vgg19 `features`: conv at these indices (ReLU after each, max-pool closing
# each block), channels 3 -> 64 64 | 128 128 | 256 x4 | 512 x4 | 512 x4.
TORCH_CONVS = {
    0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256),
    14: (256, 256), 16: (256, 256), 19: (256, 512), 21: (512, 512), 23: (512, 512),
    25: (512, 512), 28: (512, 512), 30: (512, 512), 32: (512, 512), 34: (512, 512),
}  # fmt: skip
BLOCK_SIZES = (2, 2, 4, 4, 4)
KERAS_LAYERS = [f"block{b}_conv{i}" for b, n in enumerate(BLOCK_SIZES, 1) for i in range(1, n + 1)]


def _torchvision_state_dict():
    """Every features tensor in torchvision's layout (OIHW), its values a ramp of prime period
    4093 (so no wrong transpose reproduces it) offset by the tensor's index, plus classifier
    tensors to be ignored."""
    sd = {}
    for k, (c_in, c_out) in TORCH_CONVS.items():
        n = c_out * c_in * 9
        sd[f"features.{k}.weight"] = (np.arange(n, dtype=np.float32) % 4093 + 1e4 * k).reshape(
            c_out, c_in, 3, 3
        )
        sd[f"features.{k}.bias"] = np.arange(c_out, dtype=np.float32) - k
    sd["classifier.0.weight"] = np.ones((8, 512), np.float32)  # (4096, 25088) in the real file
    sd["classifier.6.bias"] = np.ones(4, np.float32)
    return sd


@pytest.fixture(scope="module")
def state_dict():
    return _torchvision_state_dict()


def _assert_one_paragraph(err, path, *words):
    message = str(err.value)
    assert str(path) in message and "\n" not in message, message
    for word in words:
        assert word in message, (word, message)


def test_layers_shapes_and_parameters():
    net = vgg19.VGG19()
    variables = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert set(variables) == {"params", "normalisation"}
    params = variables["params"]
    assert list(params) == [
        f"conv{b}_{i}" for b, n in enumerate(BLOCK_SIZES, 1) for i in range(1, n + 1)
    ]
    # torchvision's vgg19 without its classifier: sum of 9 c_in c_out + c_out over 16 convs.
    assert sum(a.size for a in jax.tree.leaves(params)) == 20_024_384
    assert params["conv4_1"]["kernel"].shape == (3, 3, 256, 512)  # HWIO
    assert len(vgg19.LAYERS) == 16 * 2 + 5
    for shape, layer, out in [
        ((2, 32, 32, 3), "relu5_4", (2, 2, 2, 512)),  # SRGAN's VGG54: 1/16 size
        ((2, 32, 32, 3), "relu2_2", (2, 16, 16, 128)),  # VGG22: 1/2 size
        ((2, 32, 32, 3), "conv1_1", (2, 32, 32, 64)),
        ((1, 40, 36, 1), "pool5", (1, 1, 1, 512)),  # grey in; pools floor odd sizes
        ((1, 40, 36, 1), "pool3", (1, 5, 4, 256)),
    ]:
        y = jax.eval_shape(vgg19.VGG19(layer=layer).apply, variables, jnp.zeros(shape))
        assert y.shape == out and y.dtype == jnp.float32, layer
    # One pixel a side per max-pool before the layer: MNIST's 28x28 reaches relu5_4 (1x1).
    assert [vgg19.min_size(n) for n in ("conv1_1", "relu2_2", "relu5_4", "pool5")] == [1, 2, 16, 32]
    y = jax.eval_shape(net.apply, variables, jnp.zeros((1, 28, 16, 1)))
    assert y.shape == (1, 1, 1, 512)
    with pytest.raises(ValueError, match="at least 16 pixels"):
        jax.eval_shape(net.apply, variables, jnp.zeros((1, 15, 32, 3)))
    with pytest.raises(ValueError, match="relu5_4"):
        jax.eval_shape(vgg19.VGG19(layer="relu5_5").apply, variables, jnp.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        jax.eval_shape(net.apply, variables, jnp.zeros((1, 32, 32, 4)))


def test_config_spec_names_file_and_layer():
    assert vgg19.split_spec("w/vgg19-dcbb9e9d.pth") == ("w/vgg19-dcbb9e9d.pth", "relu5_4")
    assert vgg19.split_spec("w/vgg19.h5:relu2_2") == ("w/vgg19.h5", "relu2_2")
    assert vgg19.split_spec("C:/w/a:b.pth:conv5_4") == ("C:/w/a:b.pth", "conv5_4")
    assert vgg19.split_spec("C:/w/vgg19.pth") == ("C:/w/vgg19.pth", "relu5_4")


@pytest.mark.parametrize(
    "legacy, old", [(False, False), (True, False), (True, True)], ids=["zip", "legacy", "torch03"]
)
def test_torchvision_file_fills_every_layer(tmp_path, state_dict, legacy, old):
    """Both torch.save formats, and the pickle of torch < 0.4 (torchvision's 2017 files)."""
    path = tmp_path / "vgg19.pth"
    torch_save_fixtures.write_state_dict(path, state_dict, legacy=legacy, torch03_cuda=old)
    variables = vgg19.load_vgg19_variables(str(path))
    params = variables["params"]
    for (k, _), conv in zip(TORCH_CONVS.items(), vgg19.CONVS, strict=True):
        w = state_dict[f"features.{k}.weight"]
        np.testing.assert_array_equal(params[conv]["kernel"], w.transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(params[conv]["bias"], state_dict[f"features.{k}.bias"])
    # Kernel [dy, dx, c_in, c_out] is the PyTorch weight [c_out, c_in, dy, dx], by hand.
    assert params["conv2_1"]["kernel"][2, 0, 5, 7] == state_dict["features.5.weight"][7, 5, 2, 0]
    np.testing.assert_allclose(variables["normalisation"]["mean"], [0.485, 0.456, 0.406])
    np.testing.assert_allclose(variables["normalisation"]["std"], [0.229, 0.224, 0.225])


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda sd: sd.pop("features.34.bias"), ["1 tensor(s) missing", "features.34.bias"]),
        (lambda sd: sd.update({"decoder.weight": np.ones(3, np.float32)}), ["decoder.weight"]),
        (
            lambda sd: sd.update({"features.1.running_mean": np.ones(64, np.float32)}),
            ["vgg19_bn"],
        ),
        (
            lambda sd: sd.update({"features.0.weight": np.ones((64, 1, 3, 3), np.float32)}),
            ["features.0.weight (64, 1, 3, 3) (needs (64, 3, 3, 3))"],
        ),
        (
            lambda sd: sd.update({"features.2.bias": np.ones(64, np.int64)}),
            ["features.2.bias of dtype int64"],
        ),
    ],
    ids=["missing", "extra", "batch_norm", "misshaped", "integer"],
)
def test_torchvision_file_that_does_not_fit_is_refused(tmp_path, state_dict, change, words):
    sd = dict(state_dict)
    change(sd)
    path = tmp_path / "weights.pth"
    torch_save_fixtures.write_state_dict(path, sd, legacy=True)  # the faster of the two
    with pytest.raises(DataError) as err:
        vgg19.load_vgg19_variables(str(path))
    _assert_one_paragraph(err, path, "vgg19-dcbb9e9d.pth", *words)


def test_skipped_tensors_are_left_unread(tmp_path):
    """torchvision's classifier (400 MiB of the 550 MB file) is never read: an archive that
    lacks its bytes loads as long as only the kept tensors are asked for."""
    full, partial = tmp_path / "full.pth", tmp_path / "partial.pth"
    tensors = {"features.0.bias": np.arange(64, dtype="f4"), "classifier.0.bias": np.ones(9, "f4")}
    torch_save_fixtures.write_state_dict(full, tensors)
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(partial, "w") as dst:
        for name in src.namelist():
            if name != "archive/data/1":  # the classifier's storage
                dst.writestr(name, src.read(name))
    kept = pretrained_files.read_torch_state_dict(str(partial), keep=lambda n: n[0] == "f")
    assert list(kept) == ["features.0.bias"]
    np.testing.assert_array_equal(kept["features.0.bias"], tensors["features.0.bias"])
    with pytest.raises(DataError, match="lacks the storage archive/data/1"):
        pretrained_files.read_torch_state_dict(str(partial))


def test_unreadable_files_are_refused(tmp_path):
    small = {"features.0.bias": np.ones(64, np.float32), "classifier.0.bias": np.ones(99, "f4")}
    cases = []  # (path, words the message must hold)

    for legacy in (False, True):
        full = tmp_path / f"full_{legacy}.pth"
        torch_save_fixtures.write_state_dict(full, small, legacy=legacy)
        cut = tmp_path / f"truncated_{legacy}.pth"
        # The cut falls in the classifier's storage, skipped unread, but still noticed.
        cut.write_bytes(full.read_bytes()[: -30 if legacy else -200])
        cases.append((cut, ["truncated"]))
        if not legacy:  # one flipped byte inside a storage: the zip's CRC check fails
            data = bytearray(full.read_bytes())
            at = data.index(np.ones(64, np.float32).tobytes())
            data[at + 10] ^= 0xFF
            (tmp_path / "flipped.pth").write_bytes(bytes(data))
            cases.append((tmp_path / "flipped.pth", ["truncated or corrupt", "CRC"]))

    # A pickle that would run code: its global is refused before anything runs.
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for legacy in (False, True):
        exploit = tmp_path / f"exploit_{legacy}.pth"
        if legacy:
            exploit.write_bytes(pickle.dumps(Exploit(), protocol=2))
        else:
            with zipfile.ZipFile(exploit, "w") as z:
                z.writestr("archive/data.pkl", pickle.dumps(Exploit(), protocol=2))
        cases.append((exploit, ["system", "never runs code"]))

    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    cases.append((tmp_path / "image.png", ["no weights format", "vgg19-dcbb9e9d.pth"]))
    (tmp_path / "empty.pth").write_bytes(b"")
    cases.append((tmp_path / "empty.pth", ["no weights format"]))
    cases.append((tmp_path / "absent.pth", ["No weights file", "download.pytorch.org"]))
    # torch.hub's name promises a sha256 prefix; a partial download does not have it.
    hub_named = tmp_path / "vgg19-dcbb9e9d.pth"
    hub_named.write_bytes((tmp_path / "full_True.pth").read_bytes())
    cases.append((hub_named, ["sha256", "'dcbb9e9d'"]))

    for path, words in cases:
        with pytest.raises(DataError) as err:
            vgg19.load_vgg19_variables(str(path))
        _assert_one_paragraph(err, path, *words)
    assert not marker.exists()


def _write_keras(path, layers, weight_name_style="keras2", extra_layers=()):
    """A Keras HDF5 weights file as `save_weights` writes it: `layer_names` on the root, a
    group per layer with `weight_names`, each weight a dataset at that (nested) name. Keras 1
    named them `<layer>_W_1:0` / `<layer>_b_1:0` (fchollet's 2016 files), Keras 2
    `<layer>/kernel:0` / `<layer>/bias:0`."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        names = []
        for name, weights in [*layers.items(), *extra_layers]:
            g = f.create_group(name)
            if weights and weight_name_style == "keras1":
                wnames = [f"{name}_W_1:0", f"{name}_b_1:0"][: len(weights)]
            else:
                wnames = [f"{name}/kernel:0", f"{name}/bias:0"][: len(weights)]
            for wname, value in zip(wnames, weights, strict=True):
                g.create_dataset(wname, data=value)
            g.attrs["weight_names"] = np.array([n.encode() for n in wnames], dtype="S")
            names.append(name)
        f.attrs["layer_names"] = np.array([n.encode() for n in names], dtype="S")
        f.attrs["backend"] = b"tensorflow"


def _caffe_relu2_2(layers, images01):
    """relu2_2 in Keras's own convention, computed directly: BGR in [0, 255] less the mean
    pixel, the HWIO kernels as stored; two convs, a 2x2 max-pool, two convs."""
    x = images01[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], np.float32)
    for name in KERAS_LAYERS[:4]:
        kernel, bias = layers[name]
        x = jax.lax.conv_general_dilated(
            x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision="highest",
        )  # fmt: skip
        x = jax.nn.relu(x + bias)
        if name == "block1_conv2":
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    return np.asarray(x)


@pytest.fixture(scope="module")
def keras_layers():
    """Keras VGG19's weights in order, He-scaled random (HWIO), with the weightless layers."""
    rng = np.random.default_rng(0)
    layers, c_in = {"input_1": []}, 3
    for b, n in enumerate(BLOCK_SIZES, 1):
        c_out = (64, 128, 256, 512, 512)[b - 1]
        for i in range(1, n + 1):
            kernel = rng.normal(0, np.sqrt(2 / (9 * c_in)), (3, 3, c_in, c_out))
            bias = rng.uniform(-0.1, 0.1, c_out)
            layers[f"block{b}_conv{i}"] = [kernel.astype("f4"), bias.astype("f4")]
            c_in = c_out
        layers[f"block{b}_pool"] = []
    return layers


def test_keras_file_loads_and_computes_keras_features(tmp_path, keras_layers):
    h5py = pytest.importorskip("h5py")
    layers = keras_layers
    path = tmp_path / "vgg19_notop.h5"
    # Keras 1 weight names, and the top's dense layers (ignored) as in the file with the top.
    top = [("flatten", []), ("fc1", [np.ones((8, 4), "f4"), np.ones(4, "f4")])]
    _write_keras(path, layers, "keras1", extra_layers=top)
    with h5py.File(path, "a") as f:  # the top is left unread: a dataset it lacks goes unnoticed
        del f["fc1"]["fc1_W_1:0"]
    variables = vgg19.load_vgg19_variables(str(path))
    params = variables["params"]
    # The first kernel's input channels turn from BGR to RGB; every other kernel as stored.
    np.testing.assert_array_equal(
        params["conv1_1"]["kernel"], layers["block1_conv1"][0][:, :, ::-1, :]
    )
    for conv, layer in zip(vgg19.CONVS[1:], KERAS_LAYERS[1:], strict=True):
        np.testing.assert_array_equal(params[conv]["kernel"], layers[layer][0])
        np.testing.assert_array_equal(params[conv]["bias"], layers[layer][1])
    # relu2_2 of RGB images in [0, 1] equals Keras's computation on its own input.
    images = np.random.default_rng(1).random((2, 20, 18, 3), dtype=np.float32)
    ours = vgg19.VGG19(layer="relu2_2").apply(variables, images)
    theirs = _caffe_relu2_2(layers, images)
    assert ours.shape == theirs.shape == (2, 10, 9, 128)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_keras_file_that_does_not_fit_is_refused(tmp_path, keras_layers, monkeypatch):
    h5py = pytest.importorskip("h5py")
    small = {"input_1": [], "block1_conv1": [np.ones((3, 3, 3, 64), "f4"), np.ones(64, "f4")]}
    cases = []
    _write_keras(tmp_path / "missing.h5", small)
    cases.append((tmp_path / "missing.h5", ["15 tensor(s) missing", "block1_conv2"]))
    # Theano's channels-first kernels (`th_dim_ordering_th_kernels`), every layer present.
    theano = {
        name: [w.transpose(3, 2, 0, 1) if w.ndim == 4 else w for w in weights]
        for name, weights in keras_layers.items()
    }
    _write_keras(tmp_path / "theano.h5", theano)
    cases.append((
        tmp_path / "theano.h5", ["block1_conv1's kernel (64, 3, 3, 3) (needs (3, 3, 3, 64))"]
    ))  # fmt: skip
    full = (tmp_path / "theano.h5").read_bytes()
    (tmp_path / "truncated.h5").write_bytes(full[: len(full) // 2])
    cases.append((tmp_path / "truncated.h5", ["truncated or corrupt"]))
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = np.ones(3)
    cases.append((tmp_path / "plain.h5", ["layer_names", "not a Keras weights file"]))
    # Keras's published name promises its md5 (keras.applications' file_hash).
    named = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    named.write_bytes((tmp_path / "missing.h5").read_bytes())
    cases.append((named, ["md5", "253f8cb5"]))
    for path, words in cases:
        with pytest.raises(DataError) as err:
            vgg19.load_vgg19_variables(str(path))
        _assert_one_paragraph(err, path, *words)
    # Without h5py: what to install, or the .pth to use instead.
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(DataError) as err:
        vgg19.load_vgg19_variables(str(tmp_path / "missing.h5"))
    _assert_one_paragraph(err, tmp_path / "missing.h5", "pip install h5py", ".pth")


@pytest.mark.skipif(not TORCH_PYTHON.exists(), reason="no Python with torch at ~/torchvenv")
def test_files_written_by_torch_give_torchs_features(tmp_path):
    """A random VGG19 in torchvision's layout, saved by torch.save in both formats, loads,
    and gendl's features of a fixed input equal torch's conv stack's."""
    subprocess.run(
        [str(TORCH_PYTHON), str(TORCH_REFERENCE), str(tmp_path)],
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    images = np.load(tmp_path / "images.npy")
    zipped = vgg19.load_vgg19_variables(str(tmp_path / "vgg19_zip.pth"))
    legacy = vgg19.load_vgg19_variables(str(tmp_path / "vgg19_legacy.pth"))
    jax.tree.map(np.testing.assert_array_equal, zipped, legacy)
    for layer in ("relu2_2", "relu5_4"):
        theirs = np.load(tmp_path / f"{layer}.npy")
        ours = np.asarray(vgg19.VGG19(layer=layer).apply(zipped, images))
        assert ours.shape == theirs.shape, layer
        assert theirs.std() > 0.01 and (theirs > 0).mean() > 0.2  # a live signal, not zeros
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_feature_network_spec_loads_the_file_and_refuses_what_cannot_work(tmp_path, state_dict):
    """`vgg19:<file>:<layer>` as a perceptual loss names it: the file's variables, whole
    (normalisation included), through VGG19 at that layer; a missing file and images too small
    for the layer are ConfigErrors that say what to do."""
    from gendl.config import ConfigError
    from gendl.objectives import feature_networks

    path = tmp_path / "vgg19.pth"
    torch_save_fixtures.write_state_dict(path, state_dict)
    net = feature_networks.get(f"vgg19:{path}:relu2_2", (32, 32, 3))
    assert "relu2_2" in net.description and "vgg19.pth" in net.description
    variables = net.load()
    x = jnp.linspace(0.0, 1.0, 2 * 32 * 32 * 3).reshape(2, 32, 32, 3)
    expected = vgg19.VGG19(layer="relu2_2").apply(vgg19.load_vgg19_variables(str(path)), x)
    np.testing.assert_array_equal(net.features(variables, x), expected)
    assert net.features(variables, x).shape == (2, 16, 16, 128)
    with pytest.raises(ConfigError, match="no file at"):
        feature_networks.get(f"vgg19:{tmp_path / 'absent.pth'}", (64, 64, 3))
    with pytest.raises(ConfigError, match="at least 16x16"):
        feature_networks.get(f"vgg19:{path}:relu5_4", (8, 8, 3))
