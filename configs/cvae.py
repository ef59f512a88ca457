"""Conditional VAE (Sohn et al. 2015) on MNIST: the MLP VAE of vae.py with a one-hot digit
label fed to the encoder and the decoder, so samples can be drawn for a chosen class.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cvae.py --workdir=runs/cvae
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cvae.py:smoke --workdir=/tmp/cvae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "vae")
    c.model.num_classes = 10
    # Label accuracy (InfoGAN: the code's best match to the classes), FID, precision/recall of
    # 10,000 samples: `python -m gendl.evaluate --workdir=W --evals=sample_quality`.
    c.evals.sample_quality = config_lib.sample_quality()
    return config_lib.apply_variant(c, arg, {"smoke": config_lib.smoke})
