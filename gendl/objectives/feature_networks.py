"""Frozen feature networks that a perceptual loss (or a metric) compares images in, chosen by
a config string (e.g. config.objective.content = "classifier:mnist").

  "classifier:<dataset>[:<layer>]"
      gendl's own classifier of <dataset> (gendl/evaluation/classifier_config.py: "mnist",
      "fashion_mnist", "emoji_style", ...), trained by gendl on that data on first need and
      cached in $GENDL_CACHE_DIR/classifier/<dataset> (or `classifier_workdir`), as the
      sample-quality metrics' feature classifier. The features are the ReLU activations of
      its conv stage <layer> ("conv0", "conv1", ...; default the last), before that stage's
      max-pool: the analogue of SRGAN's VGG54 (the last conv's activations before the last
      pool) for data where no ImageNet network is at hand. Only the conv stages run, so the
      features exist at any image size.
  "vgg19:<file>[:<layer>]"
      VGG19 with the ImageNet weights of a file the user has (torchvision's .pth or Keras's
      .h5, read by gendl.models.vgg19 without torch or TensorFlow; `{manual_dir}` may start
      the path); <layer> as SRGAN's VGG54 = relu5_4 (the default) or VGG22 = relu2_2.

A FeatureNetwork's `load()` returns the network's flax variables; the trainer calls it once
(`Objective.frozen_networks`) and passes them to every step, never training or saving them.
What a feature network needs built (the classifier) is built by the trainer before it builds
the experiment (`prerequisites_of`, gendl.training.loop): this module imports no trainer.
"""

import dataclasses
import json
import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.evaluation import prerequisites
from gendl.models import classifier as classifier_models
from gendl.models import conv, vgg19
from gendl.training import init_from


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
    description: str  # for logs and results: which network was used
    load: Callable[[], dict]  # -> flax variables; called once by the trainer
    features: Callable[[dict, jax.Array], jax.Array]  # (variables, [n,H,W,C] in [0,1]) -> [n,h,w,c]


def get(spec: str, image_shape, manual_dir: str = "", cfg=None) -> FeatureNetwork:
    """The feature network of `spec` for images of `image_shape` ([H, W, C]); `cfg` holds
    options of its kind (classifier: classifier_workdir, classifier_overrides, data_dir)."""
    kind, _, rest = str(spec).partition(":")
    if kind == "classifier" and rest:
        dataset, _, layer = rest.partition(":")
        return _classifier(dataset, layer, image_shape, manual_dir, dict(cfg or {}))
    if kind == "vgg19" and rest:
        return _vgg19(rest, image_shape, manual_dir)
    raise ConfigError(
        f"Unknown feature network {spec!r}. Use 'classifier:<dataset>[:conv<k>]' (a classifier "
        "gendl trains on that data, e.g. 'classifier:mnist' or 'classifier:emoji_style') or "
        "'vgg19:<weights file>[:<layer>]' (see gendl/objectives/feature_networks.py)."
    )


def _vgg19(rest, image_shape, manual_dir):
    """VGG19 with a user's ImageNet weights (gendl/models/vgg19.py reads torchvision's .pth
    and Keras's .h5 without torch or TensorFlow). The whole variables dict goes to `apply`:
    the file's input normalisation is a collection beside the params."""
    path, layer = vgg19.split_spec(rest)
    path = os.path.expanduser(path.replace("{manual_dir}", manual_dir or ""))
    smallest = vgg19.min_size(layer)
    if image_shape[-1] not in (1, 3) or min(image_shape[:2]) < smallest:
        raise ConfigError(
            f"Feature network 'vgg19:{rest}': VGG19's {layer} needs RGB or grey images of at "
            f"least {smallest}x{smallest}; the data's images are {tuple(image_shape)}. Pick an "
            "earlier layer (e.g. relu2_2) or use 'classifier:<dataset>'."
        )
    if not os.path.isfile(path):
        raise ConfigError(
            f"Feature network 'vgg19:{rest}': no file at {path}. Download torchvision's "
            "vgg19-dcbb9e9d.pth or Keras's vgg19 notop .h5 (see gendl/models/vgg19.py) and "
            "name it in the config, or use 'classifier:<dataset>'."
        )
    net = vgg19.VGG19(layer=layer)
    return FeatureNetwork(
        description=f"VGG19 {layer}, ImageNet weights from {os.path.basename(path)}",
        load=lambda: vgg19.load_vgg19_variables(path),
        features=net.apply,
    )


def prerequisites_of(config) -> list:
    """What the feature network of config.objective.content needs built first (a gendl
    classifier not yet cached); [] for none."""
    kind, _, rest = str(config.objective.get("content", "")).partition(":")
    if kind != "classifier" or not rest:
        return []
    options = dict(config.objective.get("feature_network", {}))
    data = config.data
    need = prerequisites.classifier_prerequisite(
        rest.partition(":")[0], options, data.get("manual_dir", ""), data.get("data_dir", "")
    )
    return [] if need.ready() else [need]


def classifier_conv_features(module: classifier_models.ConvClassifier, params, x, stage: int):
    """ReLU(conv stage `stage`) of `module`'s classifier, before its pool: the same stages as
    ConvClassifier.__call__ (tests/test_srgan.py checks them against its intermediates)."""
    h = jnp.asarray(x, jnp.float32)
    for i, c in enumerate(module.channels[: stage + 1]):
        h = nn.relu(conv.Conv(c, 3, padding=1).apply({"params": params[f"conv{i}"]}, h))
        if i < stage:
            h = classifier_models._max_pool_2x2(h)
    return h


def _classifier(dataset, layer, image_shape, manual_dir, cfg):
    need = prerequisites.classifier_prerequisite(dataset, cfg, manual_dir, cfg.get("data_dir", ""))
    module = classifier_models.build(need.config.model, None)["classifier"]
    stages = len(module.channels)
    names = [f"conv{i}" for i in range(stages)]
    layer = layer or names[-1]
    if layer not in names:
        raise ConfigError(
            f"The {dataset} classifier has the conv stages {', '.join(names)}; "
            f"feature network 'classifier:{dataset}:{layer}' names none of them."
        )
    stage = names.index(layer)
    del image_shape  # conv stages only: any image size works

    def load():
        if not need.ready():  # the trainer builds it first (prerequisites_of)
            raise ConfigError(
                f"The feature network 'classifier:{dataset}' needs {need.description}, which is "
                f"not at {need.workdir}. Training builds it on first need; to build it by "
                f"hand run `{need.how_to}`."
            )
        with open(os.path.join(need.workdir, "config.json")) as f:
            theirs = tuple(json.load(f)["model"]["channels"])
        if theirs != tuple(module.channels):
            raise ConfigError(
                f"The classifier at {need.workdir} has conv stages {theirs}, not "
                f"{module.channels}: point classifier_workdir at a run of "
                "gendl/evaluation/classifier_config.py for this dataset."
            )
        params = init_from.network_params(need.workdir, "classifier")
        return {"params": jax.device_get(params)}

    return FeatureNetwork(
        description=f"gendl's {dataset} classifier ({need.workdir}), {layer} after ReLU",
        load=load,
        features=lambda variables, x: classifier_conv_features(
            module, variables["params"], x, stage
        ),
    )
