"""VGG19's convolutional layers (Simonyan & Zisserman 2015, configuration E) as a frozen
feature network, with ImageNet weights read from a file the user has.

    variables = vgg19.load_vgg19_variables("/data/weights/vgg19-dcbb9e9d.pth")
    feats = vgg19.VGG19(layer="relu5_4").apply(variables, images)  # images NHWC in [0, 1]

The network: 16 3x3 convolutions (padding 1) with ReLU in five blocks of 64, 128, 256, 512,
512 channels, a 2x2 max-pool after each block; no classifier. `layer` names the output:
`conv<b>_<i>` (the i-th convolution of block b, before its ReLU), `relu<b>_<i>` (after it) or
`pool<b>`. SRGAN's content losses (Ledig et al. 2017) are "VGG54" = relu5_4 (the 4th
convolution's activation before the 5th pool: 1/16 of the input's size, 512 channels) and
"VGG22" = relu2_2 (1/2 size, 128 channels). Inputs are RGB (grey is repeated to RGB), any
size from 16x16 up for relu5_4 (32x32 and more keeps some spatial extent).

The input normalisation belongs to the weights, so it travels in the variables (collection
"normalisation": `(x - mean) / std` per RGB channel, x in [0, 1]) and the same module serves
both files:

* torchvision's `vgg19-dcbb9e9d.pth` (about 550 MB, `torchvision.models.vgg19(weights=
  "IMAGENET1K_V1")`): https://download.pytorch.org/models/vgg19-dcbb9e9d.pth . Input
  normalised with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
  Tensors `features.<k>.weight|bias` for k in 0, 2, 5, 7, 10, ..., 34 (OIHW, transposed to
  Flax's HWIO); the `classifier.*` tensors are skipped unread.
* Keras's `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` (about 80 MB,
  `keras.applications.VGG19(include_top=False)`):
  https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5
  (the file with the top, without `_notop`, works too). Needs h5py (`pip install
  'gendl[h5]'`). These are the original Caffe weights: BGR input in [0, 255] less the mean
  pixel (103.939, 116.779, 123.68). The first convolution's input channels are reversed at
  load time, so gendl feeds RGB, and the normalisation is mean = (123.68, 116.779,
  103.939) / 255, std = 1/255.

The format is read from the file's first bytes. torch.hub's file name carries a sha256
prefix and Keras's known names an md5, both checked. No torch or TensorFlow is imported.

In a config, a perceptual loss or metric names the network `vgg19:<file>[:<layer>]`, e.g.
`vgg19:/data/weights/vgg19-dcbb9e9d.pth:relu2_2` (layer relu5_4 when omitted); see
gendl/objectives/feature_networks.py.
"""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gendl.data.errors import DataError
from gendl.models import pretrained_files

TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
KERAS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
# keras.applications.vgg19's `file_hash`es (md5) of its two downloads.
KERAS_MD5 = {
    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5": "253f8cb515780f3b799900260a226db6",
    "vgg19_weights_tf_dim_ordering_tf_kernels.h5": "cbe5617147190e668d6c5d5026f83318",
}

BLOCKS = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)
CONVS = tuple(
    f"conv{b}_{i}" for b, widths in enumerate(BLOCKS, 1) for i in range(1, len(widths) + 1)
)
LAYERS = tuple(
    name
    for b, widths in enumerate(BLOCKS, 1)
    for name in (
        *(f"{kind}{b}_{i}" for i in range(1, len(widths) + 1) for kind in ("conv", "relu")),
        f"pool{b}",
    )
)
TORCHVISION_NORMALISATION = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# Caffe's mean pixel (BGR) reversed to RGB, on the [0, 1] scale; std 1/255 restores [0, 255].
KERAS_NORMALISATION = (
    tuple(v / 255 for v in (123.68, 116.779, 103.939)),
    (1 / 255,) * 3,
)
_ACCEPTED = (
    f"gendl's VGG19 reads torchvision's vgg19-dcbb9e9d.pth ({TORCHVISION_URL}) or Keras's "
    f"vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 ({KERAS_URL}); see "
    "gendl/models/vgg19.py."
)


def _conv_shapes():
    """{conv name: (in channels, out channels)}."""
    shapes, c_in = {}, 3
    for name, c_out in zip(CONVS, (w for widths in BLOCKS for w in widths), strict=True):
        shapes[name] = (c_in, c_out)
        c_in = c_out
    return shapes


def _torchvision_indices():
    """{conv name: its index in torchvision's `features` Sequential}: conv and ReLU take one
    index each, and each block ends with a max-pool."""
    out, k = {}, 0
    for b, widths in enumerate(BLOCKS, 1):
        for i in range(1, len(widths) + 1):
            out[f"conv{b}_{i}"] = k
            k += 2
        k += 1
    return out


def min_size(layer: str) -> int:
    """The smallest input side whose `layer` output is not empty: 2 ** (max-pools before it)."""
    if layer not in LAYERS:
        raise ValueError(f"Unknown VGG19 layer {layer!r}; known: {', '.join(LAYERS)}.")
    block = int(layer[4])  # conv<b>_<i>, relu<b>_<i>, pool<b>
    return 2 ** (block if layer.startswith("pool") else block - 1)


def split_spec(spec: str) -> tuple[str, str]:
    """(file, layer) of a config's `<file>[:<layer>]` (what follows `vgg19:`): the layer is
    the text after the last colon when that is a layer name (so a file name may hold
    colons), else relu5_4, SRGAN's VGG54."""
    head, _, tail = spec.rpartition(":")
    return (head, tail) if head and tail in LAYERS else (spec, "relu5_4")


class VGG19(nn.Module):
    """VGG19's feature layers up to `layer`, on RGB (or grey) NHWC images in [0, 1]."""

    layer: str = "relu5_4"
    # float32 convolutions on every backend (GPUs would otherwise use TF32): features, and
    # the losses and metrics on them, must not depend on the machine.
    precision: jax.lax.Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, images01):
        if images01.ndim != 4 or images01.shape[-1] not in (1, 3):
            raise ValueError(
                f"VGG19 takes NHWC images with 1 or 3 channels; got shape {images01.shape}."
            )
        if min(images01.shape[1:3]) < min_size(self.layer):
            raise ValueError(
                f"VGG19's {self.layer} needs images of at least {min_size(self.layer)} pixels a "
                f"side (one per 2x2 max-pool before it); got shape {images01.shape}."
            )
        x = jnp.asarray(images01, jnp.float32)
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        # Defaults for `init`; loaded variables bring their file's (see the module docstring).
        mean, std = (
            self.variable("normalisation", name, jnp.asarray, value, jnp.float32).value
            for name, value in zip(("mean", "std"), TORCHVISION_NORMALISATION, strict=True)
        )
        x = (x - mean) / std
        for b, widths in enumerate(BLOCKS, 1):
            for i, width in enumerate(widths, 1):
                x = nn.Conv(
                    width, (3, 3), padding=((1, 1), (1, 1)), precision=self.precision,
                    name=f"conv{b}_{i}",
                )(x)  # fmt: skip
                if self.layer == f"conv{b}_{i}":
                    return x
                x = nn.relu(x)
                if self.layer == f"relu{b}_{i}":
                    return x
            x = nn.max_pool(x, (2, 2), strides=(2, 2))  # floors odd sizes, as torch and Keras
            if self.layer == f"pool{b}":
                return x
        raise AssertionError("unreachable: every name in LAYERS returns above")


def _check_convs(path, tensors, kernel_shape):
    """tensors: {conv: {"kernel": (name in the file, array), "bias": (...)}} in the file's
    layout; `kernel_shape(c_in, c_out)` is VGG19's kernel shape in that layout. A DataError
    naming the tensors that do not fit."""
    wrong = []
    for conv, (c_in, c_out) in _conv_shapes().items():
        for what, need in (("kernel", kernel_shape(c_in, c_out)), ("bias", (c_out,))):
            name, arr = tensors[conv][what]
            if tuple(arr.shape) != need:
                wrong.append(f"{name} {tuple(arr.shape)} (needs {need})")
            elif not np.issubdtype(arr.dtype, np.floating):
                wrong.append(f"{name} of dtype {arr.dtype} (needs a float)")
    if wrong:
        raise DataError(
            f"{path} does not hold VGG19's layers: {len(wrong)} tensor(s) do not fit: "
            f"{', '.join(wrong[:6])}{' ...' if len(wrong) > 6 else ''}. It may be another "
            f"network's weights (VGG16, VGG11, a Theano-ordered Keras file). {_ACCEPTED}"
        )


def _mismatch_error(path, missing, unexpected, hint=""):
    def listed(names):
        return f"{names[:8]}{' ...' if len(names) > 8 else ''}"

    return DataError(
        f"{path} does not hold VGG19's convolutional layers: {len(missing)} tensor(s) missing "
        f"{listed(missing)}, {len(unexpected)} unexpected {listed(unexpected)}.{hint} "
        f"{_ACCEPTED}"
    )


def variables_from_torchvision(state_dict, path) -> dict:
    """Flax variables from torchvision's `vgg19` state dict ({name: array}, OIHW kernels);
    `classifier.*` is ignored. `path` names the file in errors."""
    names = {
        conv: {"kernel": f"features.{k}.weight", "bias": f"features.{k}.bias"}
        for conv, k in _torchvision_indices().items()
    }
    expected = {n for pair in names.values() for n in pair.values()}
    given = {n for n in state_dict if not n.startswith("classifier.")}
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        hint = ""
        if any(n.endswith(("running_mean", "running_var")) for n in unexpected):
            hint = (
                " The file has batch-norm statistics: it is torchvision's vgg19_bn, not the "
                "plain vgg19 that SRGAN and gendl use."
            )
        raise _mismatch_error(path, missing, unexpected, hint)
    tensors = {
        conv: {what: (name, state_dict[name]) for what, name in pair.items()}
        for conv, pair in names.items()
    }
    _check_convs(path, tensors, lambda c_in, c_out: (c_out, c_in, 3, 3))
    kernels = {conv: t["kernel"][1].transpose(2, 3, 1, 0) for conv, t in tensors.items()}
    biases = {conv: t["bias"][1] for conv, t in tensors.items()}
    return _variables(kernels, biases, TORCHVISION_NORMALISATION)


# The dense layers of Keras's file with the top (fc1 alone is 400 MiB): left unread.
_KERAS_TOP = frozenset({"fc1", "fc2", "predictions"})


def _keras_layer_names():
    """{conv name: Keras layer name}: conv1_1 -> block1_conv1."""
    return {
        f"conv{b}_{i}": f"block{b}_conv{i}"
        for b, widths in enumerate(BLOCKS, 1)
        for i in range(1, len(widths) + 1)
    }


def variables_from_keras(layers, path) -> dict:
    """Flax variables from Keras's VGG19 weights ({layer name: [kernel HWIO, bias]}); the
    top's dense layers are ignored, and the first kernel's BGR input channels become RGB."""
    keras = _keras_layer_names()
    given = {name for name, weights in layers.items() if weights} - _KERAS_TOP
    missing = sorted(set(keras.values()) - given)
    unexpected = sorted(given - set(keras.values()))
    if missing or unexpected:
        raise _mismatch_error(path, missing, unexpected)
    tensors = {}
    for conv, layer in keras.items():
        weights = layers[layer]
        if len(weights) != 2:
            raise DataError(
                f"{path}: Keras layer {layer} holds {len(weights)} weights, not a convolution's "
                f"two (kernel, bias). {_ACCEPTED}"
            )
        tensors[conv] = {
            "kernel": (f"{layer}'s kernel", weights[0]),
            "bias": (f"{layer}'s bias", weights[1]),
        }
    _check_convs(path, tensors, lambda c_in, c_out: (3, 3, c_in, c_out))
    kernels = {conv: t["kernel"][1] for conv, t in tensors.items()}
    kernels["conv1_1"] = kernels["conv1_1"][:, :, ::-1, :]  # BGR -> RGB input channels
    biases = {conv: t["bias"][1] for conv, t in tensors.items()}
    return _variables(kernels, biases, KERAS_NORMALISATION)


def _variables(kernels, biases, normalisation):
    params = {
        name: {
            "kernel": jnp.asarray(np.asarray(kernels[name], np.float32)),
            "bias": jnp.asarray(np.asarray(biases[name], np.float32)),
        }
        for name in CONVS
    }
    mean, std = (jnp.asarray(v, jnp.float32) for v in normalisation)
    return {"params": params, "normalisation": {"mean": mean, "std": std}}


def load_vgg19_variables(path: str) -> dict:
    """Flax variables of `VGG19` from a torchvision .pth or a Keras .h5 ImageNet weights file
    (the format is read from the file); a DataError of one paragraph for any other file."""
    path = str(path)
    fmt = pretrained_files.file_format(path, expected=_ACCEPTED)
    if fmt == pretrained_files.KERAS_H5:
        name = os.path.basename(path)
        if name in KERAS_MD5:
            pretrained_files.check_digest(
                path, "md5", KERAS_MD5[name], "keras.applications.vgg19 publishes for it"
            )
        layers = pretrained_files.read_keras_weights(path, keep=lambda n: n not in _KERAS_TOP)
        return variables_from_keras(layers, path)
    pretrained_files.check_hub_name(path)
    state_dict = pretrained_files.read_torch_state_dict(
        path, keep=lambda name: not name.startswith("classifier.")
    )
    return variables_from_torchvision(state_dict, path)
