"""The VAE baseline of Burda et al. 2015 ("Importance Weighted Autoencoders"), MNIST, one
stochastic layer: encoder and decoder with two deterministic layers of 200 tanh units, 50
latents, Bernoulli decoder, dynamically binarised MNIST, batch 20, Adam(1e-3, eps=1e-4).
`:k5` / `:k50` average the ELBO over k samples (the paper's VAE k=5 / k=50 rows).
`:two_layer` is the paper's two-stochastic-layer model: 784 -(100-100 tanh)-> z1 (100)
-(50-50 tanh)-> z2 (50) and back (paper: NLL 85.33 for VAE k=1, 82.90 for IWAE k=50).

The paper trains 3,280 passes, 3^i at learning rate 1e-3 * 10^(-i/7) for i = 0..7: the
optimizer's "burda" schedule, its stages counted in epochs of 60,000 // batch_size steps (so
--config.batch_size keeps them epochs); total_steps here is 1,000 epochs (3,000,000 steps of
batch 20, into stage 6), which a run can shorten or lengthen with --config.total_steps.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/vae_burda.py --workdir=runs/vae_burda
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/vae_burda.py:two_layer --workdir=runs/vae_burda2
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/vae_burda.py:smoke --workdir=/tmp/vae_burda_smoke
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/vae_burda.py:two_layer,smoke --workdir=/tmp/vae_burda2_smoke
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
    c.optimizer.schedule = "burda"
    # A FieldReference: the stages stay epochs when --config.batch_size changes.
    c.optimizer.stage_steps = 60_000 // c.get_ref("batch_size")
    c.checkpoint.every_steps = 50_000
    c.log.every_steps = 1000
    c.log.sample_every_steps = 50_000
    return config_lib.apply_variant(c, arg, VARIANTS)


def two_layer(c):
    """The two-stochastic-layer networks; latent_dim names the top layer (z2)."""
    c.model.name = "mlp_vae_2layer"
    c.model.hidden1 = (100, 100)
    c.model.latent1 = 100
    c.model.hidden2 = (50, 50)
    c.model.latent_dim = 50
    del c.model["hidden"]
    c.objective.name = "hierarchical_vae"


def _samples(k):
    def apply(c):
        c.objective.num_samples = k

    return apply


VARIANTS = {
    "smoke": config_lib.smoke,
    "k5": _samples(5),
    "k50": _samples(50),
    "two_layer": two_layer,
}
