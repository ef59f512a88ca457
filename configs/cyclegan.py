"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): Google-style <-> Twitter-style emoji, learnt WITHOUT pairs. Domain a is
the folder <manual_dir>/emoji/google (the main stream, feature "image"), domain b the folder
<manual_dir>/emoji/twitter (config.data.streams.b, feature "b/image"); each stream has its own
sampler and order, so the folders' pairing by file name never reaches training. It is used
only to score the test split (the translation evaluators read both folders as pairs).

To the paper: ResNet generators c7s1-64, d128, d256, 6 residual blocks (<= 128 px), u128,
u64, c7s1-3 with instance norm and reflection padding (models/resnet_generator.py); 70x70
PatchGAN discriminators with instance norm (models/patchgan.py); least-squares adversarial
loss, cycle loss lambda = 10, identity loss 0.5 lambda; a pool of the 50 last fakes per
discriminator (objectives/image_pool.py); Adam(2e-4, b1 = 0.5), the learning rate constant
for the first half of training, then linearly decayed to 0. Random jitter scaled from the
paper's 286 -> 256 to 64 px: resize to 72, random 64x64 crop, mirror flip (each stream its
own). The paper trains 200 epochs at batch size 1; here batch size 4 (instance norm makes the
networks independent of the batch size) and 155,000 steps, 200 epochs of the ~3,090
Google training images.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cyclegan.py --workdir=runs/cyclegan
Translate any images, either way (PNGs of the same names in --output):
    python -m gendl.translate --workdir=runs/cyclegan --input=my_emoji/ --output=twitter_style/
    python -m gendl.translate --workdir=runs/cyclegan --input=tw/ --output=google_style/ --direction=b2a
Test-split L1 / PSNR / SSIM against the true pairs and the identity baseline, both ways:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/cyclegan
Horse <-> zebra from the TFDS catalog (needs `pip install -e '.[tfds]'`; 256 px, 9 blocks,
batch 1, 200 epochs of the 1,067 horses; no true pairs, so no translation scores):
    python -m gendl.main --config=configs/cyclegan.py:horse2zebra --workdir=runs/horse2zebra
Any two folders of images (pairing ignored; scored against pairs where names match):
    ... --config.data.path=DIR_A --config.data.streams.b.path=DIR_B
CPU smoke run (seconds; 32x32 images, narrow nets):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cyclegan.py:smoke --workdir=/tmp/cyclegan_smoke
"""

import ml_collections

from gendl import config as config_lib


def no_style_scores(c):
    """A smoke run must not train the style classifier (tests/test_style.py covers it)."""
    for name in ("translation", "translation_b2a"):
        c.evals[name].style_classifier = ""


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 155_000  # 200 epochs of ~3,090 images at batch 4
    c.batch_size = 4

    jitter = ("alpha_white", "resize:72", "random_crop:64", "random_flip")
    c.data.source = "folder"
    c.data.path = "{manual_dir}/emoji/google"
    c.data.ops = jitter
    # Test pictures and evaluation: the images as they are, without the jitter.
    c.data.test_ops = ("alpha_white", "resize:64")
    c.data.streams.b = ml_collections.ConfigDict(
        dict(path="{manual_dir}/emoji/twitter", ops=jitter, test_ops=("alpha_white", "resize:64"))
    )

    c.model.name = "cyclegan"
    c.model.domains = ("image", "b/image")  # domain a, domain b
    c.model.ngf = 64
    c.model.n_blocks = 6  # 9 at 256 px
    c.model.ndf = 64
    c.model.n_layers = 3  # strided PatchGAN layers: 70x70 receptive field
    c.model.conv_impl = "auto"

    c.objective.name = "cyclegan"
    c.objective.lambda_cycle = 10.0
    c.objective.lambda_identity = 0.5  # x lambda_cycle
    c.objective.pool_size = 50

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5
    c.optimizer.schedule = "linear"
    c.optimizer.decay_start = 0.5
    c.optimizer.final_learning_rate = 0.0

    # L1, PSNR and SSIM of the test translations against the true pairs (and of the inputs
    # themselves, the identity baseline), each direction; a grid of input | translation |
    # target. At the end of training, and from `python -m gendl.evaluate --workdir=W`.
    # Style accuracy and FID/KID in gendl's emoji style classifier's features (Google = "a",
    # Twitter = "b"; built on first need); off for your own folders: style_classifier=''.
    style = dict(style_classifier="emoji_style", style_classes=("a", "b"))
    c.evals.translation = dict(
        type="translation", direction="a2b", every_steps=0, num_pictures=16, **style
    )
    c.evals.translation_b2a = dict(
        type="translation", direction="b2a", every_steps=0, num_pictures=16, **style
    )

    c.checkpoint.every_steps = 5000
    c.log.every_steps = 100
    c.log.num_samples = 16  # 16 test pairs: a | a -> b | b | b -> a each
    c.log.sample_every_steps = 5000

    def smoke(c):
        config_lib.smoke(c)
        tiny = ("alpha_white", "resize:36", "random_crop:32", "random_flip")
        c.data.ops = c.data.streams.b.ops = tiny
        c.data.test_ops = c.data.streams.b.test_ops = ("alpha_white", "resize:32")
        c.model.ngf = c.model.ndf = 8
        c.model.n_blocks = 2
        c.objective.pool_size = 6
        c.log.num_samples = 4
        no_style_scores(c)

    def horse2zebra(c):
        c.total_steps = 213_400  # 200 epochs of the 1,067 horses at batch 1
        c.batch_size = 1
        c.data.source = "tfds_catalog"
        c.data.name = "cycle_gan/horse2zebra"
        c.data.split, c.data.test_split = "trainA", "testA"
        c.data.ops = ("resize:286", "random_crop:256", "random_flip")
        c.data.test_ops = ("resize:256",)
        c.data.streams.b = ml_collections.ConfigDict(
            dict(split="trainB", test_split="testB", ops=c.data.ops, test_ops=c.data.test_ops)
        )
        c.model.n_blocks = 9
        c.evals = ml_collections.ConfigDict()  # horses and zebras come unpaired: no scores

    return config_lib.apply_variant(c, arg, {"smoke": smoke, "horse2zebra": horse2zebra})
