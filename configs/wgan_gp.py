"""WGAN-GP on MNIST in the paper's setting (Gulrajani et al. 2017, "Improved Training of
Wasserstein GANs", MNIST experiment: DIM=64, batch 50, 5 critic steps, lambda=10,
Adam(1e-4, 0.5, 0.9), 200,000 generator iterations).

Run (offline, from the original MNIST files):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/wgan_gp.py --workdir=runs/wgan_gp
CPU smoke run (seconds):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/wgan_gp.py:smoke --workdir=/tmp/wgan_gp_smoke
Sample quality (FID, KID, IS, precision/recall in the features of gendl's MNIST classifier,
10k samples against the 10k test images) runs every 50,000 steps and at the end; the first
evaluation builds the classifier it needs once (cached, see configs/classifier.py), and
`gendl.evaluate` scores any checkpoint afterwards:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/wgan_gp
Benchmark the train step:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.bench --config=configs/wgan_gp.py
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 200_000  # generator iterations
    c.batch_size = 50
    c.data.name = "mnist"

    c.model.name = "dcgan28"
    c.model.dim = 64
    c.model.z_dim = 128
    # "auto" picks the exact stride-1 (phase) formulation of strided convs where it is faster.
    c.model.conv_impl = "auto"

    c.objective.name = "wgan_gp"
    c.objective.n_critic = 5
    c.objective.gp_weight = 10.0

    c.optimizer.learning_rate = 1e-4
    c.optimizer.b1 = 0.5
    c.optimizer.b2 = 0.9

    c.checkpoint.every_steps = 2000
    c.log.every_steps = 100
    c.log.sample_every_steps = 2000

    c.evals.sample_quality = config_lib.sample_quality(50_000)

    def small(c):
        config_lib.smoke(c)
        c.model.dim = 16
        # Tiny, and only from gendl.evaluate: a smoke run must not need a trained classifier.
        c.evals.sample_quality.update(every_steps=-1, kid_subsets=5, is_splits=2)

    return config_lib.apply_variant(c, arg, {"smoke": small})
