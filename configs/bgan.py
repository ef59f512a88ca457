"""Boundary-seeking GAN for continuous data (Hjelm et al. 2018, "Boundary-Seeking Generative
Adversarial Networks", sec. 2.2 and eq. 8) on MNIST: the generator minimises
1/2 E (log D(G(z)) - log(1 - D(G(z))))^2, aiming at the decision boundary D = 1/2 (where the
importance weights D/(1 - D) of its target density are 1); the discriminator keeps the usual
logistic loss. Networks, batch and optimiser as `gan.py` (MLPs, Adam(2e-4, 0.5), batch 64).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/bgan.py --workdir=runs/bgan
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/bgan.py:smoke --workdir=/tmp/bgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    if arg not in (None, "", "smoke"):
        raise config_lib.ConfigError(f"Unknown config variant {arg!r}. This config has: smoke.")
    c = config_lib.sibling_config(__file__, "gan", arg)  # gan.py, with its :smoke if asked
    c.objective.loss = "boundary_seeking"
    return c
