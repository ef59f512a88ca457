"""Convolutional VAE on dynamically binarised MNIST, aimed at the best test NLL gendl reaches:
strided 5x5 conv encoder (32, 64 channels) and mirrored transposed-conv decoder with a 512-unit
dense bottleneck, ELU, 32 latents, Bernoulli decoder, trained on the IWAE bound with k=5
(Burda et al. 2015 show that the k-sample bound gives better likelihoods than the ELBO), batch
100, Adam(1e-3, eps=1e-4) decayed to 1e-4 by a cosine schedule. `:elbo` trains the plain ELBO.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/conv_vae.py --workdir=runs/conv_vae
Test NLL (k=5000, 10,000 test images) of the latest checkpoint:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/conv_vae
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/conv_vae.py:smoke --workdir=/tmp/conv_vae_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "vae")
    c.total_steps = 300_000  # 500 epochs of batch 100
    c.batch_size = 100
    c.model = dict(
        name="conv_vae",
        latent_dim=32,
        channels=(32, 64),
        dense=512,
        likelihood="bernoulli",
        conv_impl="auto",
    )
    c.objective.bound = "iwae"
    c.objective.num_samples = 5
    c.optimizer.eps = 1e-4
    c.optimizer.schedule = "cosine"
    c.optimizer.final_learning_rate = 1e-4
    c.checkpoint.every_steps = 10_000
    c.log.sample_every_steps = 10_000
    for ev in ("reconstruction", "pictures"):
        c.evals[ev].every_steps = 50_000

    def elbo(c):
        c.objective.bound = "elbo"
        c.objective.num_samples = 1

    return config_lib.apply_variant(c, arg, {"smoke": config_lib.smoke, "elbo": elbo})
