"""GAN (Goodfellow et al. 2014, "Generative Adversarial Nets") on MNIST with MLP networks:
generator z(100) -> 256 -> 512 -> 1024 -> 784 (ReLU, sigmoid), discriminator 784 -> 1024 ->
512 -> 256 -> 1 (LeakyReLU 0.2 in place of the paper's maxout + dropout), the non-saturating
generator loss the paper recommends in practice (`:minimax` for the minimax game of eq. 1),
one discriminator step per generator step (the paper's k = 1), batch 64, Adam(2e-4, 0.5)
in place of the paper's SGD with momentum.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/gan.py --workdir=runs/gan
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/gan.py:minimax --workdir=runs/gan_minimax
Sample quality in gendl's MNIST classifier features (trained on first need):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/gan
CPU smoke run (seconds):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/gan.py:smoke --workdir=/tmp/gan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 50_000
    c.batch_size = 64
    c.data.name = "mnist"

    c.model.name = "mlp_gan"
    c.model.z_dim = 100
    c.model.g_hidden = (256, 512, 1024)
    c.model.d_hidden = (1024, 512, 256)
    c.model.num_classes = 0
    c.model.g_batch_norm = True
    c.model.d_dropout = 0.3
    c.model.dtype = "float32"

    c.objective.name = "gan"
    c.objective.loss = "non_saturating"
    c.objective.n_critic = 1

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5

    # Sample grid and latent interpolations from the final generator (EMA when on).
    c.evals.pictures = dict(type="generator_pictures", every_steps=0, num_samples=100)
    # FID/KID/precision/recall, classes present (and label accuracy for cgan) in gendl's MNIST
    # classifier features, from `python -m gendl.evaluate --workdir=W` (every_steps=-1).
    c.evals.sample_quality = config_lib.sample_quality()

    c.checkpoint.every_steps = 5000
    c.log.every_steps = 200
    c.log.num_samples = 100  # a 10x10 grid: one row per class for conditional models
    c.log.sample_every_steps = 2000

    def minimax(c):
        c.objective.loss = "minimax"

    def smoke(c):
        config_lib.smoke(c)
        c.model.g_hidden = (64, 128)
        c.model.d_hidden = (128, 64)

    return config_lib.apply_variant(c, arg, {"smoke": smoke, "minimax": minimax})
