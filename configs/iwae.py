"""Importance-weighted autoencoder (Burda et al. 2015), one stochastic layer, MNIST: the
networks and training set-up of vae_burda.py trained on the k-sample IWAE bound. k=5 by
default, `:k50` for k=50 (the paper's IWAE rows, NLL 85.33 / 84.78 nats).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/iwae.py --workdir=runs/iwae
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/iwae.py:k50 --workdir=runs/iwae_k50
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/iwae.py:smoke --workdir=/tmp/iwae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "vae_burda")
    c.objective.bound = "iwae"
    c.objective.num_samples = 5
    return config_lib.apply_variant(c, arg, {"smoke": config_lib.smoke, "k50": _k50})


def _k50(c):
    c.objective.num_samples = 50
