"""The FID Inception-v3 port (third_party/inception): architecture shapes, the input
pipeline, and the torch-free weights loader on synthetic files in torch.save's formats.

No weights are downloaded: the files here are written by tests/torch_save_fixtures.py.
"""

import math
import os
import pathlib
import pickle
import zipfile

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch_save_fixtures

from third_party import inception
from third_party.inception import network

# Spot checks of tensor names and PyTorch shapes, read from the state_dict of a PyTorch
# rebuild of pytorch-fid's FID Inception (torchvision's Inception3 names), which also gave
# the totals: 472 tensors besides the 94 `num_batches_tracked`, 23,885,392 numbers.
TORCH_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Mixed_6e.branch7x7dbl_2.conv.weight": (192, 192, 7, 1),
    "Mixed_7b.branch3x3_2a.conv.weight": (384, 384, 1, 3),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "Mixed_5b.branch_pool.bn.running_var": (32,),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


def _state_dict(fill="index"):
    """Every expected tensor in PyTorch layout: filled with its own index (each tensor a
    distinct constant), or zeros without allocating ("zeros")."""
    out = {}
    for i, (name, (_, shape, _)) in enumerate(inception.expected_tensors().items()):
        if fill == "index":
            out[name] = np.full(shape, i, np.float32)
        else:
            out[name] = np.broadcast_to(np.float32(0), shape)
    return out


def _random_variables(seed=0):
    """Random weights with He-scaled kernels, so activations stay O(1) through 94 layers."""
    rng = np.random.default_rng(seed)

    def leaf(path, s):
        name = path[-1].key
        if name == "kernel":
            return rng.normal(0, math.sqrt(2 / math.prod(s.shape[:-1])), s.shape).astype("f4")
        if name in ("scale", "var"):
            return rng.uniform(0.5, 1.5, s.shape).astype(np.float32)
        return rng.uniform(-0.1, 0.1, s.shape).astype(np.float32)

    return jax.tree_util.tree_map_with_path(leaf, inception.init_shapes())


def _bilinear_matrix(in_size, out_size=299):
    src = np.maximum((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0)
    lo = np.floor(src).astype(int)
    m = np.zeros((out_size, in_size))
    np.add.at(m, (np.arange(out_size), lo), 1 - (src - lo))
    np.add.at(m, (np.arange(out_size), np.minimum(lo + 1, in_size - 1)), src - lo)
    return m


def test_architecture_has_the_fid_network_tensors():
    expected = inception.expected_tensors()
    assert len(expected) == 472
    assert sum(math.prod(shape) for _, shape, _ in expected.values()) == 23_885_392
    for name, shape in TORCH_SHAPES.items():
        assert expected[name][1] == shape, name
    assert not any(n.startswith("AuxLogits") for n in expected)  # aux_logits=False


def test_feature_shapes():
    variables = inception.init_shapes()
    for images in (
        jax.ShapeDtypeStruct((2, 28, 28, 1), jnp.uint8),
        jax.ShapeDtypeStruct((3, 64, 48, 3), jnp.float32),
    ):
        pool3, logits = jax.eval_shape(inception.features, variables, images)
        n = images.shape[0]
        assert pool3.shape == (n, inception.POOL3_DIM) == (n, 2048)
        assert logits.shape == (n, inception.NUM_LOGITS) == (n, 1008)
        assert pool3.dtype == logits.dtype == jnp.float32
    with pytest.raises(ValueError, match="channel"):
        jax.eval_shape(inception.features, variables, jax.ShapeDtypeStruct((2, 28, 28), jnp.uint8))


def test_preprocess_matches_the_pytorch_fid_pipeline():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    x = np.asarray(inception.preprocess(grey))
    assert x.shape == (2, 299, 299, 3)
    assert x.min() >= -1 and x.max() <= 1
    # uint8 in [0, 255] and float in [0, 1] are the same images; grey is repeated to RGB.
    rgb = np.repeat(grey.astype(np.float32) / 255, 3, axis=-1)
    np.testing.assert_allclose(np.asarray(inception.preprocess(rgb)), x, atol=1e-6)
    # PyTorch's rule (upsample_bilinear2d, align_corners=False), written out in float64:
    # source coordinate (i + 0.5) * in / out - 0.5, clamped at 0, no antialiasing.
    for shape in [(1, 28, 33, 3), (1, 320, 301, 3)]:
        img = rng.random(shape, dtype=np.float32)
        reference = np.einsum(
            "oh,pw,nhwc->nopc",
            _bilinear_matrix(shape[1]),
            _bilinear_matrix(shape[2]),
            img,
            optimize=True,
        )
        # float32 source coordinates near 300 are exact to ~3e-5 (as in torch itself).
        np.testing.assert_allclose(inception.resize_bilinear(img), reference, atol=5e-5)
    img = rng.random((1, 299, 299, 3), dtype=np.float32)
    np.testing.assert_array_equal(inception.resize_bilinear(img), img)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_loader_puts_every_tensor_in_its_leaf(tmp_path, legacy):
    state_dict = _state_dict("index")
    names = list(state_dict)
    # BatchNorm's counters, as torch >= 0.4.1 writes them; the loader skips them.
    for name in names:
        if name.endswith(".bn.running_var"):
            state_dict[name.replace("running_var", "num_batches_tracked")] = np.array(7, np.int64)
    path = tmp_path / "weights.pth"
    torch_save_fixtures.write_state_dict(path, state_dict, legacy=legacy)
    if legacy:  # also through the URL path: a file:// URL is downloaded into the cache
        variables = inception.load_params(path.as_uri(), cache_dir=str(tmp_path / "cache"))
        assert (tmp_path / "cache" / "weights.pth").exists()
    else:
        variables = inception.load_params(str(path))
    variables = jax.tree.map(np.asarray, variables)  # numpy: no compiled op per leaf below

    leaves = jax.tree_util.tree_flatten_with_path(variables)[0]
    shapes = jax.tree.map(lambda s: s.shape, inception.init_shapes())
    assert jax.tree.map(lambda a: a.shape, variables) == shapes
    # Every leaf is one tensor's constant and every tensor lands in exactly one leaf.
    values = []
    for path, leaf in leaves:
        assert leaf.dtype == np.float32
        assert leaf.min() == leaf.max(), jax.tree_util.keystr(path)
        values.append(int(leaf.reshape(-1)[0]))
    assert sorted(values) == list(range(len(names)))
    # ... and the right one: Flax paths against PyTorch names, written out by hand.
    index = {n: i for i, n in enumerate(names)}
    p, s = variables["params"], variables["batch_stats"]
    for leaf, name in [
        (p["Mixed_7c"]["branch_pool"]["conv"]["kernel"], "Mixed_7c.branch_pool.conv.weight"),
        (p["Mixed_6e"]["branch7x7dbl_2"]["bn"]["scale"], "Mixed_6e.branch7x7dbl_2.bn.weight"),
        (p["Conv2d_4a_3x3"]["bn"]["bias"], "Conv2d_4a_3x3.bn.bias"),
        (s["Mixed_5b"]["branch1x1"]["bn"]["mean"], "Mixed_5b.branch1x1.bn.running_mean"),
        (s["Mixed_7a"]["branch3x3_2"]["bn"]["var"], "Mixed_7a.branch3x3_2.bn.running_var"),
        (p["fc"]["kernel"], "fc.weight"),
        (p["fc"]["bias"], "fc.bias"),
    ]:
        assert int(leaf.reshape(-1)[0]) == index[name], name


def test_loader_transposes_conv_and_dense_layouts():
    """A PyTorch conv (OIHW, NCHW) + batch norm and the fc layer, computed from the PyTorch
    tensors directly, agree with the Flax modules holding the loaded variables."""
    rng = np.random.default_rng(0)
    state_dict = _state_dict("zeros")
    prefix = "Mixed_6b.branch7x7_3"  # 128 -> 192 channels, a 7x1 kernel padded (3, 0)
    w = rng.normal(size=(192, 128, 7, 1)).astype(np.float32)
    gamma, beta, mean = (rng.normal(size=192).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2, 192).astype(np.float32)
    fc_w = rng.normal(size=(1008, 2048)).astype(np.float32)
    fc_b = rng.normal(size=1008).astype(np.float32)
    state_dict.update({
        f"{prefix}.conv.weight": w, f"{prefix}.bn.weight": gamma, f"{prefix}.bn.bias": beta,
        f"{prefix}.bn.running_mean": mean, f"{prefix}.bn.running_var": var,
        "fc.weight": fc_w, "fc.bias": fc_b,
    })  # fmt: skip
    variables = inception.variables_from_state_dict(state_dict)

    x = rng.normal(size=(2, 9, 5, 128)).astype(np.float32)
    sub = {k: v["Mixed_6b"]["branch7x7_3"] for k, v in variables.items()}
    ours = network.BasicConv2d(192, (7, 1), padding=(3, 0)).apply(sub, x)
    conv = jax.lax.conv_general_dilated(
        x.transpose(0, 3, 1, 2), w, (1, 1), ((3, 3), (0, 0)),
        dimension_numbers=("NCHW", "OIHW", "NCHW"), precision="highest",
    ).transpose(0, 2, 3, 1)  # fmt: skip
    theirs = np.maximum((conv - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)

    pool3 = rng.random((3, 2048), dtype=np.float32)
    dense = nn.Dense(1008, precision="highest").apply({"params": variables["params"]["fc"]}, pool3)
    np.testing.assert_allclose(dense, pool3 @ fc_w.T + fc_b, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        inception.logits_without_bias(variables, pool3), pool3 @ fc_w.T, rtol=1e-4, atol=1e-3
    )


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda sd: sd.pop("Mixed_6c.branch_pool.bn.running_var"), "Mixed_6c.branch_pool.bn"),
        (lambda sd: sd.update({"AuxLogits.fc.weight": np.zeros(1)}), "torchvision"),
        (lambda sd: sd.update({"fc.weight": np.zeros((1000, 2048))}), r"fc.weight \(1000"),
    ],
    ids=["missing", "extra", "misshaped"],
)
def test_loader_names_the_tensors_that_do_not_fit(change, match):
    state_dict = _state_dict("zeros")
    change(state_dict)
    with pytest.raises(inception.WeightsMismatchError, match=match):
        inception.variables_from_state_dict(state_dict)


def test_loader_rejects_bad_files(tmp_path):
    # A pickle that would run code refers to a global the restricted unpickler refuses.
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "exploit.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(Exploit(), protocol=2))
    with pytest.raises(inception.CheckpointFormatError, match="system"):
        inception.read_state_dict(str(path))
    assert not marker.exists()

    (tmp_path / "noise.pth").write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(inception.CheckpointFormatError, match="neither"):
        inception.read_state_dict(str(tmp_path / "noise.pth"))

    full = tmp_path / "small.pth"
    torch_save_fixtures.write_state_dict(full, {"a": np.ones(100, np.float32)}, legacy=True)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(full.read_bytes()[:-10])
    with pytest.raises(inception.CheckpointFormatError, match="truncated"):
        inception.read_state_dict(str(truncated))
    # A readable state dict of other tensors: the mismatch error, through load_params.
    with pytest.raises(inception.WeightsMismatchError, match="missing"):
        inception.load_params(str(full))


def test_load_params_checks_names_hash_and_needs_a_cache_for_urls(tmp_path):
    # torch.hub's convention: `-<hex>.pth` is a prefix of the file's sha256.
    bad = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    bad.write_bytes(b"partial download")
    with pytest.raises(inception.WeightsMismatchError, match="sha256"):
        inception.load_params(str(bad))
    with pytest.raises(FileNotFoundError, match="pt_inception"):
        inception.load_params(str(tmp_path / "absent.pth"))
    with pytest.raises(ValueError, match="cache_dir"):
        inception.load_params(inception.FID_WEIGHTS_URL)


def test_forward_on_a_tiny_batch():
    variables = _random_variables()
    images = np.random.default_rng(1).integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    pool3, logits = inception.features(variables, images)
    pool3, logits = np.asarray(pool3), np.asarray(logits)
    assert np.isfinite(pool3).all() and np.isfinite(logits).all()
    assert (pool3 >= 0).all() and pool3.std() > 0  # an average of ReLU outputs
    assert not np.allclose(pool3[0], pool3[1])  # different images, different features
    fc = variables["params"]["fc"]
    np.testing.assert_allclose(logits, pool3 @ fc["kernel"] + fc["bias"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        inception.logits_without_bias(variables, pool3), logits - fc["bias"], atol=1e-4
    )


def test_reads_files_written_by_torch(tmp_path):
    """Skipped without torch (CI has none); run with torch importable to check the reader
    against torch.save itself, in both formats."""
    torch = pytest.importorskip("torch")
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.running_var.uniform_(0.5, 2)
    state_dict = bn.state_dict()  # carries `_metadata`, as every module's state dict does
    state_dict["transposed"] = torch.arange(12.0).reshape(3, 4).t()
    state_dict["slice"] = torch.arange(20.0)[5:9]
    state_dict["half"] = torch.randn(2, 3).half()
    state_dict["param"] = torch.nn.Parameter(torch.randn(4))
    for legacy in (False, True):
        path = pathlib.Path(tmp_path / f"torch_{legacy}.pth")
        torch.save(state_dict, path, _use_new_zipfile_serialization=not legacy)
        ours = inception.read_state_dict(str(path))
        assert list(ours) == list(state_dict)
        for name, tensor in state_dict.items():
            expected = tensor.detach().numpy()
            assert ours[name].dtype == expected.dtype, name
            np.testing.assert_array_equal(ours[name], expected, err_msg=name)
