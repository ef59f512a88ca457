"""Pix2Pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks"): Google-style emoji -> Twitter-style emoji, pairs of 64x64 RGBA PNGs of the same
file name in <manual_dir>/emoji/google and <manual_dir>/emoji/twitter (transparency composited
onto white). U-Net generator of 6 levels, ngf 64 (models/unet.py), 70x70 PatchGAN
discriminator, ndf 64 (models/patchgan.py), BCE adversarial loss + 100 x L1, Adam(2e-4,
b1=0.5), the paper's random jitter scaled from 286 -> 256 to 64 px: resize to 72, random
64x64 crop and mirror flip, the same for both images of a pair. The paper trains with batch
size 1; this config uses 16 so that a CPU step does useful work (the PyTorch peer in
shared/bench/torch_ref.py uses 16 too). The test split is the folders' hash split (10%).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/pix2pix.py --workdir=runs/pix2pix
The paper's L1-only ablation (no discriminator):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/pix2pix.py:l1_only --workdir=runs/pix2pix_l1
Twitter -> Google instead:
    ... --config=configs/pix2pix.py --config.objective.direction=b2a
Translate any images with the trained generator (PNGs of the same names in --output):
    python -m gendl.translate --workdir=runs/pix2pix --input=my_emoji/ --output=translated/
Test-split L1 / PSNR / SSIM against the identity baseline, and the translation grid:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/pix2pix
Speed of the full training loop:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.bench --config=configs/pix2pix.py
CPU smoke run (seconds; 32x32 images, narrow nets):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/pix2pix.py:smoke --workdir=/tmp/pix2pix_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 20_000  # ~100 epochs of the ~3,100 training pairs at batch 16
    c.batch_size = 16

    c.data.source = "paired_folders"
    c.data.paths = ("{manual_dir}/emoji/google", "{manual_dir}/emoji/twitter")
    c.data.names = ("a", "b")
    c.data.ops = ("alpha_white", "resize:72", "random_crop:64", "random_flip")
    # Test pictures and evaluation: the images as they are, without the jitter.
    c.data.test_ops = ("alpha_white", "resize:64")

    c.model.name = "pix2pix"
    c.model.levels = 6  # 64 -> 1 pixel at the bottleneck
    c.model.ngf = 64
    c.model.ndf = 64
    c.model.n_layers = 3  # strided PatchGAN layers: 70x70 receptive field
    c.model.dropout_levels = -1  # -1: the reference code's rule (levels - 5)
    c.model.conv_impl = "auto"  # levels 4-5 (2x2, 1x1 maps) as matmuls, the others phase
    # Reductions (batch norm statistics and gradients, the gradient-norm metrics over 31M
    # parameters) through YNNPACK: the step ran ~1.3-1.6x faster than with "" (config.py).
    c.xla_cpu_ynn_fusion = "LIBRARY_FUSION_TYPE_REDUCE"

    c.objective.name = "pix2pix"
    c.objective.direction = "a2b"
    c.objective.lambda_l1 = 100.0
    c.objective.l1_only = False

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5

    # L1, PSNR and SSIM of the test translations against the targets, and of the inputs
    # themselves (the identity baseline); a grid of input | translation | target. Style
    # accuracy and FID/KID in the features of gendl's emoji style classifier
    # (configs/emoji_style.py: class 0 Google = feature "a", class 1 Twitter = "b"; built on
    # first need in $GENDL_CACHE_DIR/classifier/emoji_style). At the end of training, and from
    # `python -m gendl.evaluate --workdir=W`. For your own folders, turn the emoji style
    # scores off: --config.evals.translation.style_classifier=''.
    c.evals.translation = dict(
        type="translation",
        every_steps=0,
        num_pictures=16,
        style_classifier="emoji_style",
        style_classes=("a", "b"),
    )

    c.checkpoint.every_steps = 2000
    c.log.every_steps = 100
    c.log.num_samples = 16  # 16 test pairs: input | translation | target each
    c.log.sample_every_steps = 1000

    def smoke(c):
        config_lib.smoke(c)
        c.batch_size = 4
        c.data.ops = ("alpha_white", "resize:36", "random_crop:32", "random_flip")
        c.data.test_ops = ("alpha_white", "resize:32")
        c.model.levels = 5
        c.model.ngf = 8
        c.model.ndf = 8
        c.model.dropout_levels = 1  # the reference rule gives none at 5 levels
        c.log.num_samples = 4
        # A smoke run must not train the style classifier (tests/test_style.py covers it).
        c.evals.translation.style_classifier = ""

    def l1_only(c):
        c.objective.l1_only = True

    return config_lib.apply_variant(c, arg, {"smoke": smoke, "l1_only": l1_only})
