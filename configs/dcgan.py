"""DCGAN (Radford et al. 2015, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks") on MNIST: transposed-conv generator and strided-conv
discriminator with batch norm (models/conv_gan.py, sized for 28x28; `:cifar10` for 32x32
colour images), LeakyReLU(0.2) in the discriminator, z of 100 dimensions, the non-saturating
loss, Adam(2e-4, b1=0.5), batch 128 (the paper's setting). Base width 64 (the paper's 128 at
64x64 shrinks with the image). `--config.ema.decay=0.999` samples from an EMA generator.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/dcgan.py --workdir=runs/dcgan
    python -m gendl.main --config=configs/dcgan.py:cifar10 --workdir=runs/dcgan_cifar10
64x64 colour emoji of one style, straight from the PNG folder <manual_dir>/emoji/twitter
(transparent background composited onto white):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/dcgan.py:emoji --workdir=runs/dcgan_emoji
FID/KID/IS/precision-recall of the latest checkpoint (after training configs/classifier.py):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/dcgan --evals=sample_quality
CPU smoke run (seconds):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/dcgan.py:smoke --workdir=/tmp/dcgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 20_000
    c.batch_size = 128
    c.data.name = "mnist"

    c.model.name = "dcgan"
    c.model.dim = 64
    c.model.z_dim = 100
    c.model.num_classes = 0
    c.model.aux_classifier = False
    c.model.batch_norm = True
    c.model.spectral_norm = False
    c.model.dtype = "float32"
    c.model.conv_impl = "auto"

    c.objective.name = "gan"
    c.objective.loss = "non_saturating"
    c.objective.n_critic = 1
    c.objective.weight_clip = 0.0
    c.objective.aux_weight = 1.0

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5

    # Sample grid and latent interpolations from the final generator (EMA when on).
    c.evals.pictures = dict(type="generator_pictures", every_steps=0, num_samples=100)
    # FID/KID/IS/PR against the MNIST test split in gendl's classifier features, from
    # `python -m gendl.evaluate --workdir=W` only (every_steps=-1): it needs the classifier
    # of configs/classifier.py trained first (the evaluator says how if it is missing).
    c.evals.sample_quality = config_lib.sample_quality()

    c.checkpoint.every_steps = 2000
    c.log.every_steps = 100
    c.log.num_samples = 100  # a 10x10 grid: one row per class for conditional models
    c.log.sample_every_steps = 1000

    def smoke(c):
        config_lib.smoke(c)
        c.model.dim = 8
        # The conv nets' extra sample programs would double the smoke run's compile time;
        # gan.py:smoke and cgan.py:smoke exercise the same evaluator.
        del c.evals["pictures"]

    def cifar10(c):
        c.data.name = "cifar10"
        del c.evals["sample_quality"]  # gendl's classifier covers MNIST and Fashion-MNIST

    def emoji(c):
        # 3,433 RGBA 64x64 PNGs read per batch; 90% train by the folder's hash split.
        c.data.source = "folder"
        c.data.path = "{manual_dir}/emoji/twitter"
        c.data.ops = ("alpha_white",)
        c.batch_size = 64
        c.total_steps = 10_000
        del c.evals["sample_quality"]  # gendl's classifier covers MNIST and Fashion-MNIST

    # The configs built on this one (wgan, lsgan, sngan, acgan) pass their argument here.
    return config_lib.apply_variant(c, arg, {"smoke": smoke, "cifar10": cifar10, "emoji": emoji})
