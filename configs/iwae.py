"""Importance-weighted autoencoder (Burda et al. 2015), one stochastic layer, MNIST: the
networks and training set-up of vae_burda.py trained on the k-sample IWAE bound. k=5 by
default, `:k50` for k=50 (the paper's IWAE rows, NLL 85.33 / 84.78 nats); `:two_layer` for the
two-stochastic-layer networks (paper: 83.89 / 82.90 nats with k=5 / k=50).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/iwae.py --workdir=runs/iwae
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/iwae.py:k50 --workdir=runs/iwae_k50
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/iwae.py:two_layer,k50 --workdir=runs/iwae2_k50
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/iwae.py:smoke --workdir=/tmp/iwae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    vae_burda = config_lib.sibling_module(__file__, "vae_burda")
    c = vae_burda.get_config()
    c.objective.bound = "iwae"
    c.objective.num_samples = 5
    variants = {"smoke": config_lib.smoke, "k50": _k50, "two_layer": vae_burda.two_layer}
    return config_lib.apply_variant(c, arg, variants)


def _k50(c):
    c.objective.num_samples = 50
