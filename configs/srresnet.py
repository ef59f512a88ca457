"""SRResNet (Ledig et al. 2017): x4 super-resolution trained with the pixel MSE, on the emoji
(64x64 targets from 16x16 inputs; Google and Twitter styles, every image of
<manual_dir>/emoji/google and <manual_dir>/emoji/twitter composited onto white, split by file
name as configs/emoji_style.py: 10% test). The input is each target downscaled on the device
(bicubic with antialiasing, 8-bit; gendl/data/resolution.py). Network: the paper's 16
residual blocks of 64 channels, two x2 sub-pixel stages (gendl/models/srresnet.py);
Adam(1e-4), batch 16, as the paper. `:cpu` is a CPU-sized network (6 blocks of 32 channels,
Adam 5e-4) for machines without an accelerator.

Measured (2026-12-02, :cpu network, 2 shared CPU cores, stopped by SIGTERM at the time limit,
`python -m gendl.evaluate` on the full test split; y = luminance with a 4 px border crop):
  :mnist,cpu  18,853 steps (24.5 min): PSNR 24.37 dB (bicubic 14.47), psnr_y 21.69 (11.88),
              SSIM 0.937 (0.401), FID in the MNIST classifier's features 2.37 (bicubic 306).
  :cpu        1,944 steps (23 min) on emoji: PSNR 23.78 dB (bicubic 21.07), psnr_y 26.09
              (23.36), SSIM 0.788 (0.728): +2.7 dB, short of the +3 dB goal at this length.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srresnet.py --workdir=runs/srresnet
MNIST, 7x7 -> 28x28:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srresnet.py:mnist --workdir=runs/srresnet_mnist
Then SRGAN from it (configs/srgan.py):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srgan.py --config.init_from=runs/srresnet --workdir=runs/srgan
Your own photos (random 96x96 crops -> 24x24 inputs; test split by file name):
    ... --config=configs/srresnet.py --config.data.source=folder --config.data.path=my_photos/ \
        --config.data.ops='("rgb","random_crop:96","random_flip")' --config.data.test_ops='("rgb","center_crop:96")' \
        --config.evals.super_resolution.fid_classifier=''
Upscale any images x4 (each at its own size; PNGs of the same names in --output):
    python -m gendl.translate --workdir=runs/srresnet --input=small_images/ --output=upscaled/
Test-split PSNR/SSIM (luminance, border cropped; and RGB) against bicubic, FID, the grid:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/srresnet
CPU smoke run (seconds; 32x32 targets, a tiny network):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srresnet.py:smoke --workdir=/tmp/srresnet_smoke
"""

from gendl import config as config_lib


def base():
    """The config before variants (configs/srgan.py starts from it too)."""
    c = config_lib.base_config()
    c.total_steps = 100_000
    c.batch_size = 16

    c.data.name = "emoji"
    c.data.source = "labelled_folders"
    c.data.paths = ("{manual_dir}/emoji/google", "{manual_dir}/emoji/twitter")
    c.data.names = ("google", "twitter")
    c.data.ops = ("alpha_white", "resize:64,64", "random_flip")
    c.data.test_ops = ("alpha_white", "resize:64,64")

    c.model.name = "srresnet"
    c.model.scale = 4
    c.model.blocks = 16
    c.model.channels = 64
    c.model.ndf = 64  # the discriminator, for configs/srgan.py
    c.model.dense = 1024
    c.model.conv_impl = "auto"

    c.objective.name = "super_resolution"
    c.objective.content = "mse"
    c.objective.adversarial_weight = 0.0

    c.optimizer.learning_rate = 1e-4

    # PSNR/SSIM against bicubic upscaling, FID in the emoji style classifier's features
    # (configs/emoji_style.py, built on first need), and the upscaling grid, at the end.
    c.evals.super_resolution = dict(
        type="super_resolution", every_steps=0, num_pictures=16, fid_classifier="emoji_style"
    )

    c.checkpoint.every_steps = 2000
    c.log.every_steps = 100
    c.log.num_samples = 16  # low-res | bicubic | model | target each
    c.log.sample_every_steps = 1000
    return c


def mnist(c):
    """MNIST, 7x7 -> 28x28."""
    c.data.name = "mnist"
    c.data.source = "tfds_prepared"
    c.data.paths, c.data.names = (), ()
    c.data.ops, c.data.test_ops = (), None
    if c.evals.super_resolution.fid_classifier:  # not turned off by a variant before it
        c.evals.super_resolution.fid_classifier = "mnist"


def cpu(c):
    """A network for CPUs: 6 residual blocks of 32 channels, a narrower discriminator."""
    c.model.blocks = 6
    c.model.channels = 32
    c.model.ndf = 32
    c.model.dense = 256
    c.optimizer.learning_rate = 5e-4


def smoke(c):
    """Seconds on a CPU: a tiny network, 32x32 emoji."""
    config_lib.smoke(c)
    c.batch_size = 4
    if c.data.source == "labelled_folders":
        c.data.ops = ("alpha_white", "resize:32,32", "random_flip")
        c.data.test_ops = ("alpha_white", "resize:32,32")
    c.model.blocks = 2
    c.model.channels = 8
    c.model.ndf = 8
    c.model.dense = 16
    c.log.num_samples = 4
    # A smoke run must not train a feature classifier (tests/test_srgan.py covers FID).
    c.evals.super_resolution.fid_classifier = ""


VARIANTS = {"mnist": mnist, "cpu": cpu, "smoke": smoke}


def get_config(arg=None):
    return config_lib.apply_variant(base(), arg, VARIANTS)
