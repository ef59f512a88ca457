"""ACGAN (Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs") on
MNIST: the generator takes z and a one-hot class; the discriminator has a second head that
classifies the image, and both networks add the class cross-entropy (on real and fake for the
discriminator, on fake for the generator) to the non-saturating adversarial loss; DCGAN
networks of dcgan.py, Adam(2e-4, b1=0.5), batch 100. Samples: one row per class.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/acgan.py --workdir=runs/acgan
CPU smoke run (seconds):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/acgan.py:smoke --workdir=/tmp/acgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "dcgan", arg)  # and its variants (:smoke, :cifar10)
    c.batch_size = 100
    c.model.num_classes = 10
    c.model.aux_classifier = True
    c.objective.aux_weight = 1.0
    return c
