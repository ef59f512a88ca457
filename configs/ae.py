"""Deterministic autoencoder on MNIST for dimensionality reduction and compression: MLP
784-400-32-400-784 (ReLU), binary cross-entropy on grey levels, batch 128, Adam(1e-3)
(after Hinton & Salakhutdinov 2006, shallower). A 2-D code for plots: --config.model.latent_dim=2.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/ae.py --workdir=runs/ae
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/ae.py:smoke --workdir=/tmp/ae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 20_000
    c.batch_size = 128
    c.data.name = "mnist"

    c.model.name = "mlp_ae"
    c.model.hidden = (400,)
    c.model.latent_dim = 32
    c.model.activation = "relu"

    c.objective.name = "autoencoder"
    c.objective.loss = "bce"
    c.objective.noise = ""
    c.objective.noise_std = 0.0
    c.objective.mask_prob = 0.0

    c.optimizer.learning_rate = 1e-3
    c.evals.reconstruction = dict(
        type="reconstruction", every_steps=5000, num_examples=10_000, batch_size=200
    )
    c.evals.pictures = dict(type="pictures", every_steps=5000, num_examples=2000, batch_size=200)
    c.checkpoint.every_steps = 5000
    c.log.every_steps = 200
    c.log.sample_every_steps = 5000
    return config_lib.apply_variant(c, arg, {"smoke": config_lib.smoke})
