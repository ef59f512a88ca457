"""LSGAN (Mao et al. 2017, "Least Squares Generative Adversarial Networks") on MNIST: the
least-squares losses with a=0, b=c=1 (eq. 2) on the DCGAN networks of dcgan.py (batch norm,
Adam(2e-4, b1=0.5), batch 128); `:cifar10` for 32x32 colour images.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/lsgan.py --workdir=runs/lsgan
CPU smoke run (seconds):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/lsgan.py:smoke --workdir=/tmp/lsgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "dcgan", arg)  # and its variants (:smoke, :cifar10)
    c.objective.loss = "least_squares"
    return c
