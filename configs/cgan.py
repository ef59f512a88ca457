"""Conditional GAN (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets") on
MNIST: the MLP networks of gan.py with the one-hot digit label concatenated to the
generator's noise and to the discriminator's input (the paper's MNIST experiment conditions
both networks this way; its maxout/dropout discriminator is replaced as in gan.py).
Samples: one row per class (the same noise down each column).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cgan.py --workdir=runs/cgan
CPU smoke run (seconds):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cgan.py:smoke --workdir=/tmp/cgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "gan", arg)  # and its variants (:smoke, :minimax)
    c.model.num_classes = 10
    return c
