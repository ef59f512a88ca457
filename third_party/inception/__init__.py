"""Inception-v3 of the FID protocol (pytorch-fid's port of the 2015 TensorFlow graph) in
Flax, with a torch-free loader of its standard weights file. See third_party/README.md.

    variables = inception.load_params("/path/to/pt_inception-2015-12-05-6726825d.pth")
    pool3, logits = inception.features(variables, images)  # [N, 2048], [N, 1008]
"""

from third_party.inception.network import (
    INPUT_SIZE,
    NUM_LOGITS,
    POOL3_DIM,
    InceptionV3,
    features,
    init_shapes,
    logits_without_bias,
    preprocess,
    resize_bilinear,
)
from third_party.inception.torch_checkpoint import CheckpointFormatError, read_state_dict
from third_party.inception.weights import (
    FID_WEIGHTS_URL,
    WeightsMismatchError,
    expected_tensors,
    load_params,
    variables_from_state_dict,
)

__all__ = [
    "FID_WEIGHTS_URL",
    "INPUT_SIZE",
    "NUM_LOGITS",
    "POOL3_DIM",
    "CheckpointFormatError",
    "InceptionV3",
    "WeightsMismatchError",
    "expected_tensors",
    "features",
    "init_shapes",
    "load_params",
    "logits_without_bias",
    "preprocess",
    "read_state_dict",
    "resize_bilinear",
    "variables_from_state_dict",
]
