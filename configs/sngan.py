"""SNGAN (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks")
on MNIST: the hinge loss (eq. 16-17) with spectral normalisation (one power iteration per
call, u kept across steps) on every discriminator layer instead of batch norm; batch-normed
DCGAN generator; Adam(2e-4, b1=0.5, b2=0.999) with one discriminator step per generator
step (the paper's setting C). The discriminator is the DCGAN one of dcgan.py with SN, not
the paper's deeper "standard CNN"; `:cifar10` for 32x32 colour images.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/sngan.py --workdir=runs/sngan
CPU smoke run (seconds):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/sngan.py:smoke --workdir=/tmp/sngan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "dcgan", arg)  # and its variants (:smoke, :cifar10)
    c.batch_size = 64
    c.model.batch_norm = False
    c.model.spectral_norm = True
    c.objective.loss = "hinge"
    c.optimizer.b2 = 0.999
    return c
