"""Adversarial autoencoder on MNIST (Makhzani et al. 2016, "Adversarial Autoencoders"):
encoder and decoder MLPs with two 1000-unit ReLU layers, a discriminator on codes with two
1000-unit layers, 8-D Gaussian prior (the paper's likelihood setting), batch 100.
`:mixture` is the paper's Fig. 4 setting: a 2-D code, a 10-component mixture-of-Gaussians
prior, and the label (one-hot) given to the discriminator and selecting the component, so
each digit gets its own arm. Adam(1e-3, b1 = 0.5) in one combined step instead of the
paper's separate SGD phases (see gendl/objectives/aae.py).

Pictures: `eval/reconstruction/reconstructions` (input row above output row) with BCE/MSE/
PSNR on the test split; `eval/pictures/prior_samples` (decoded prior samples; one mixture
component per row with :mixture), interpolations and, for 2-D codes, the decoded manifold and
a scatter of the test codes coloured by digit.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/aae.py --workdir=runs/aae
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/aae.py:mixture --workdir=runs/aae_mixture
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/aae.py:smoke --workdir=/tmp/aae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 50_000
    c.batch_size = 100
    c.data.name = "mnist"

    c.model.name = "aae_mlp"
    c.model.hidden = (1000, 1000)
    c.model.latent_dim = 8
    c.model.activation = "relu"
    c.model.d_hidden = (1000, 1000)
    c.model.prior_classes = 10  # mixture components / classes for the label-aware prior
    c.model.label_prior = False

    c.objective.name = "aae"
    c.objective.prior = "gaussian"
    c.objective.loss = "non_saturating"
    # Weight of the encoder's adversarial loss against the summed reconstruction BCE (~150
    # nats): at 1 the discriminator won (D(E(x)) ~ 0.06 after 2,000 steps) and the codes
    # ignored the mixture's arms; at 20 the game stays balanced (D(E(x)) ~ 0.47) and each digit
    # takes its arm, for ~3% more reconstruction error.
    c.objective.adversarial_weight = 20.0

    c.optimizer.learning_rate = 1e-3
    c.optimizer.b1 = 0.5
    c.optimizer.b2 = 0.999

    c.evals.reconstruction = dict(
        type="reconstruction", every_steps=5000, num_examples=10_000, batch_size=500
    )
    c.evals.pictures = dict(type="pictures", every_steps=5000, num_examples=2000, batch_size=500)
    # FID/KID/precision/recall/IS/classes present of generated digits in gendl's classifier
    # features, from `python -m gendl.evaluate --workdir=W --evals=sample_quality` only.
    c.evals.sample_quality = config_lib.sample_quality()
    c.checkpoint.every_steps = 5000
    c.log.every_steps = 500
    c.log.sample_every_steps = 5000

    def mixture(c):
        c.model.latent_dim = 2
        c.model.label_prior = True
        c.objective.prior = "mixture"

    def small(c):
        config_lib.smoke(c)
        c.model.hidden = c.model.d_hidden = (32,)
        del c.evals["sample_quality"]  # gan.py:smoke exercises it
        for ev in c.evals.values():
            ev.every_steps = 10

    return config_lib.apply_variant(c, arg, {"mixture": mixture, "smoke": small})
