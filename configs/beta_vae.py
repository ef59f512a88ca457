"""beta-VAE (Higgins et al. 2017) on MNIST with a linear KL warm-up (Sønderby et al. 2016):
the MLP VAE of vae.py with the KL weighted by beta=4, ramped from 0 over the first 10,000 steps.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/beta_vae.py --workdir=runs/beta_vae
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/beta_vae.py:smoke --workdir=/tmp/beta_vae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "vae")
    c.objective.beta = 4.0
    c.objective.kl_warmup_steps = 10_000
    return config_lib.apply_variant(c, arg, {"smoke": _smoke})


def _smoke(c):
    config_lib.smoke(c)
    c.objective.kl_warmup_steps = 10
