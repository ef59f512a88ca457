"""Denoising autoencoder (Vincent et al. 2008) on MNIST: the autoencoder of ae.py trained to
reconstruct clean images from corrupted ones: additive Gaussian noise (std 0.3, clipped to
[0, 1]) by default, `:masking` zeroes each pixel with probability 0.25.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/dae.py --workdir=runs/dae
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/dae.py:masking --workdir=runs/dae_masking
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/dae.py:smoke --workdir=/tmp/dae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "ae")
    c.objective.noise = "gaussian"
    c.objective.noise_std = 0.3
    return config_lib.apply_variant(c, arg, {"smoke": config_lib.smoke, "masking": _masking})


def _masking(c):
    c.objective.noise = "masking"
    c.objective.mask_prob = 0.25
