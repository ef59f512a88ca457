"""The VAE baseline of Burda et al. 2015 ("Importance Weighted Autoencoders"), MNIST, one
stochastic layer: encoder and decoder with two deterministic layers of 200 tanh units, 50
latents, Bernoulli decoder, dynamically binarised MNIST, batch 20, Adam(1e-3, eps=1e-4).
`:k5` / `:k50` average the ELBO over k samples (the paper's VAE k=5 / k=50 rows).

The paper trains 3^8 = 6,561 passes with a decaying learning rate; total_steps here is a CPU-
sized 1,000 epochs (3,000,000 steps of batch 20) that a run can shorten with --config.total_steps.
The two-stochastic-layer model of the paper is not implemented yet.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/vae_burda.py --workdir=runs/vae_burda
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/vae_burda.py:smoke --workdir=/tmp/vae_burda_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "vae")
    c.batch_size = 20
    c.total_steps = 3_000_000
    c.model.hidden = (200, 200)
    c.model.latent_dim = 50
    c.model.activation = "tanh"
    c.optimizer.eps = 1e-4
    c.checkpoint.every_steps = 50_000
    c.log.every_steps = 1000
    c.log.sample_every_steps = 50_000
    variants = {"smoke": config_lib.smoke, "k5": _samples(5), "k50": _samples(50)}
    return config_lib.apply_variant(c, arg, variants)


def _samples(k):
    def apply(c):
        c.objective.num_samples = k

    return apply
