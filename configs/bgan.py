"""Boundary-seeking GAN for continuous data (Hjelm et al. 2018, "Boundary-Seeking Generative
Adversarial Networks", sec. 2.2 and eq. 8) on MNIST: the generator minimises
1/2 E (log D(G(z)) - log(1 - D(G(z))))^2, aiming at the decision boundary D = 1/2 (where the
importance weights D/(1 - D) of its target density are 1); the discriminator keeps the usual
logistic loss.

Networks: the DCGAN networks of dcgan.py (transposed-conv generator, strided-conv
discriminator with batch norm), as the authors' continuous MNIST code uses (rdevon/BGAN
CONT-MNIST: conv 64, conv 128, dense 1024 with batch norm in D), at base width 32 (D: conv 32,
conv 64; `--config.model.dim=64` gives the authors' conv widths); batch 64 (theirs);
Adam(2e-4, b1=0.5) (theirs: 1e-4 for continuous data, b1=0.5).
`:mlp` puts the loss on gan.py's MLPs (dropout in D) instead: there the discriminator's logits
on real digits of the classes the generator makes least grow without bound (> 20 at 5,000
steps) while its samples sit at logit -1.6, and they drift to mostly 1, 7 and 9 (README).
`--config.objective.log_z_decay=0.995`: the authors' code's generator target, a running mean
of log E_G[D/(1 - D)] instead of 0 (on the MLPs it makes the skew worse, README).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/bgan.py --workdir=runs/bgan
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/bgan.py:mlp --workdir=runs/bgan_mlp
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/bgan.py:smoke --workdir=/tmp/bgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    args = [a for a in (arg or "").split(",") if a]
    unknown = sorted(set(args) - {"smoke", "mlp"})
    if unknown:
        raise config_lib.ConfigError(
            f"Unknown config variant {unknown[0]!r}. This config has: mlp, smoke."
        )
    base = "gan" if "mlp" in args else "dcgan"  # its :smoke if asked
    c = config_lib.sibling_config(__file__, base, "smoke" if "smoke" in args else None)
    if base == "dcgan":
        c.batch_size = 64
        if "smoke" not in args:
            c.model.dim = 32
    c.objective.loss = "boundary_seeking"
    c.objective.log_z_decay = 0.0
    return c
