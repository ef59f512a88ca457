"""The standard FID Inception weights (`pt_inception-2015-12-05-6726825d.pth`) -> Flax
variables.

The expected tensors are derived from the Flax architecture (`network.init_shapes`): each
variable's path joined with dots, with Flax leaf names replaced by PyTorch's, is the tensor's
name in the file. Every tensor must be used and every variable filled, with the right
shape; otherwise loading stops with an error naming the tensors.
"""

import functools
import hashlib
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from third_party.inception import network, torch_checkpoint

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)

# (Flax collection, Flax leaf) -> PyTorch leaf.
_LEAF_NAMES = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}

# BatchNorm's update counter: present in files written by torch >= 0.4.1, unused in inference.
_IGNORED_SUFFIX = ".num_batches_tracked"


class WeightsMismatchError(ValueError):
    """The file's tensors do not fit the FID Inception architecture."""


def _torch_layout(flax_leaf: str, shape):
    """The tensor's shape in PyTorch's layout, and the transpose taking it to Flax's."""
    if flax_leaf == "kernel" and len(shape) == 4:  # conv: Flax HWIO <- PyTorch OIHW
        return (shape[3], shape[2], shape[0], shape[1]), (2, 3, 1, 0)
    if flax_leaf == "kernel" and len(shape) == 2:  # dense: Flax [in, out] <- PyTorch [out, in]
        return (shape[1], shape[0]), (1, 0)
    return tuple(shape), None


def expected_tensors():
    """{PyTorch tensor name: (Flax path, PyTorch shape, transpose)} for every variable of the
    architecture."""
    return dict(_expected_tensors())


@functools.cache
def _expected_tensors():
    out = {}
    flat = traverse_util.flatten_dict(network.init_shapes())
    for path, leaf in flat.items():
        collection, *modules, name = path
        torch_name = ".".join([*modules, _LEAF_NAMES[(collection, name)]])
        shape, perm = _torch_layout(name, leaf.shape)
        out[torch_name] = (path, shape, perm)
    return out


def _hint(unexpected):
    if any(n.startswith("AuxLogits.") for n in unexpected):
        return (
            " The file holds an auxiliary classifier: it looks like torchvision's ImageNet "
            "Inception-v3, not the FID network's weights (pt_inception-2015-12-05)."
        )
    return ""


def variables_from_state_dict(state_dict) -> dict:
    """Flax variables {"params", "batch_stats"} (numpy float32) from {PyTorch name: array}."""
    expected = expected_tensors()
    given = {k: v for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIX)}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    if missing or unexpected:
        raise WeightsMismatchError(
            f"The weights file does not match the FID Inception-v3: {len(missing)} tensor(s) "
            f"missing {missing[:10]}{' ...' if len(missing) > 10 else ''}, {len(unexpected)} "
            f"unexpected {unexpected[:10]}{' ...' if len(unexpected) > 10 else ''}."
            f"{_hint(unexpected)} Use {FID_WEIGHTS_URL}."
        )
    misshaped = [
        f"{name} {tuple(given[name].shape)} (needs {shape})"
        for name, (_, shape, _) in expected.items()
        if tuple(given[name].shape) != shape
    ]
    if misshaped:
        raise WeightsMismatchError(
            f"{len(misshaped)} tensor(s) of the weights file have the wrong shape for the FID "
            f"Inception-v3: {misshaped[:10]}{' ...' if len(misshaped) > 10 else ''}. The file "
            f"is not the FID network's weights; use {FID_WEIGHTS_URL}."
        )
    flat = {}
    for name, (path, _, perm) in expected.items():
        value = given[name]
        if not np.issubdtype(value.dtype, np.floating):
            raise WeightsMismatchError(f"Tensor {name!r} has dtype {value.dtype}, not float.")
        value = np.asarray(value, np.float32)
        flat[path] = np.ascontiguousarray(value.transpose(perm) if perm else value)
    return traverse_util.unflatten_dict(flat)


def _is_url(path: str) -> bool:
    return urllib.parse.urlparse(str(path)).scheme in ("http", "https", "file")


def _check_hash(path: str):
    """torch.hub's convention: a name ending in `-<hex>.pth` carries its sha256's prefix."""
    m = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z]+$", os.path.basename(path))
    if not m:
        return
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if not h.hexdigest().startswith(m.group(1)):
        raise WeightsMismatchError(
            f"{path}: its sha256 {h.hexdigest()[:16]}... does not start with the "
            f"{m.group(1)!r} its name promises. The download is incomplete or corrupt; delete "
            f"it and fetch it again."
        )


def _download(url: str, cache_dir: str | None) -> str:
    if not cache_dir:
        raise ValueError(
            f"Loading Inception weights from the URL {url} needs a cache folder to keep the "
            f"file in: pass cache_dir=..., or download it yourself and give its path."
        )
    os.makedirs(cache_dir, exist_ok=True)
    dest = os.path.join(cache_dir, os.path.basename(urllib.parse.urlparse(url).path))
    if not os.path.exists(dest):
        # Written under a temporary name and renamed, so an interrupted download never
        # leaves a partial file at `dest`.
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".part")
        try:
            with urllib.request.urlopen(url) as r, os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(r, f)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return dest


def load_params(path_or_url: str, *, cache_dir: str | None = None) -> dict:
    """Flax variables of the FID Inception-v3 from the weights file at a path, or from a URL
    downloaded once into `cache_dir` (e.g. `FID_WEIGHTS_URL`)."""
    path = _download(path_or_url, cache_dir) if _is_url(path_or_url) else str(path_or_url)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No Inception weights file at {path}. Download {FID_WEIGHTS_URL} and give its "
            f"path (see third_party/README.md)."
        )
    _check_hash(path)
    variables = variables_from_state_dict(torch_checkpoint.read_state_dict(path))
    return jax.tree.map(jnp.asarray, variables)
