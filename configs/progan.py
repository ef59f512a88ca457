"""ProGAN (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability,
and Variation"): generator and discriminator grown from 4x4 to the full resolution, each new
resolution faded in by alpha over `fade_steps` then trained alone for `stable_steps`
(models/progan.py, objectives/progan.py); equalised learning rate, pixel norm, minibatch
standard deviation (models/equalized.py); WGAN-GP with lambda 10 and the drift term
epsilon = 0.001, one discriminator step per generator step; Adam(1e-3, b1=0, b2=0.99,
eps=1e-8); samples from an EMA generator (decay 0.999, the paper's Gs). The batch shrinks as
the resolution grows (config.phase_batch_sizes, by phase name: res4, fade8, res8, ...).
MNIST's 28x28 digits are padded to 32x32 for training and samples cropped back to 28x28.

Run (MNIST, offline from the original files):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/progan.py --workdir=runs/progan
Fashion-MNIST:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/progan.py:fashion_mnist --workdir=runs/progan_fashion
64x64 colour emoji of one style from the PNG folder <manual_dir>/emoji/twitter (`:emoji`;
`--config.data.path={manual_dir}/emoji/google` for the other style):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/progan.py:emoji --workdir=runs/progan_emoji
FID/KID/IS/precision-recall in gendl's classifier features (MNIST, Fashion-MNIST), also run
at the end of training:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/progan --evals=sample_quality
CPU smoke run (seconds; MNIST at 6x6 padded to 8x8: 4x4, the 8x8 fade-in, 8x8):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/progan.py:smoke --workdir=/tmp/progan_smoke
"""

import ml_collections

from gendl import config as config_lib


def _batch_sizes(c, sizes: dict):
    """Per-resolution batch sizes -> config.phase_batch_sizes for the fade-in and stable
    phase of each resolution (resolutions not named keep config.batch_size)."""
    c.phase_batch_sizes = ml_collections.ConfigDict()
    for resolution, size in sizes.items():
        c.phase_batch_sizes[f"res{resolution}"] = size
        if resolution > 4:
            c.phase_batch_sizes[f"fade{resolution}"] = size


def get_config(arg=None):
    c = config_lib.base_config()
    c.batch_size = 64
    c.data.name = "mnist"

    c.model.name = "progan"
    c.model.resolution = 0  # 0: the smallest power of two holding the images (32 for MNIST)
    c.model.z_dim = 128
    # Widths nf(stage) = min(fmap_base / 2**stage, fmap_max): 256, 256, 128, 64 channels at
    # 4x4, 8x8, 16x16, 32x32 (the paper's 1024x1024 model: 8192 and 512).
    c.model.fmap_base = 1024
    c.model.fmap_max = 256
    c.model.mbstd_group_size = 4
    c.model.dtype = "float32"

    c.objective.name = "progan"
    c.objective.n_critic = 1
    c.objective.gp_weight = 10.0
    c.objective.drift = 0.001
    # Steps per stable phase and per fade-in (the paper: 600k images each, 9,375 batches of
    # 64); MNIST needs far fewer. The last resolution trains until total_steps.
    c.objective.stable_steps = 4000
    c.objective.fade_steps = 4000
    c.total_steps = 32_000  # 4x4..32x32: 28,000 steps of growth, then 4,000 at 32x32
    _batch_sizes(c, {32: 32})

    c.optimizer.learning_rate = 1e-3
    c.optimizer.b1 = 0.0
    c.optimizer.b2 = 0.99
    c.optimizer.eps = 1e-8
    c.ema.decay = 0.999

    # FID/KID/IS/PR against the test split in gendl's classifier features, at the end.
    c.evals.sample_quality = config_lib.sample_quality(every_steps=0)

    c.checkpoint.every_steps = 2000
    c.log.every_steps = 100
    c.log.num_samples = 64
    c.log.sample_every_steps = 1000

    def smoke(c):
        config_lib.smoke(c)
        # MNIST shrunk to 6x6 and padded to 8x8: the phases res4, fade8, res8 in 6 steps,
        # each fade-in step at its own alpha, with a checkpoint in the middle of the fade-in.
        c.data.ops = ("resize:6",)
        c.batch_size = 8
        _batch_sizes(c, {8: 4})
        c.model.fmap_base = 32
        c.model.fmap_max = 16
        c.objective.stable_steps = 2
        c.objective.fade_steps = 2
        c.total_steps = 6
        c.checkpoint.every_steps = 3
        c.log.sample_every_steps = 3
        # Only from gendl.evaluate (a smoke run must not need a trained classifier, and the
        # 6x6 images are not the classifier's 28x28).
        c.evals.sample_quality.update(every_steps=-1, kid_subsets=5, is_splits=2)

    def fashion_mnist(c):
        c.data.name = "fashion_mnist"

    def emoji(c):
        # 3,433 RGBA 64x64 PNGs, composited onto white; 90% train by the folder's hash split.
        c.data.source = "folder"
        c.data.path = "{manual_dir}/emoji/twitter"
        c.data.ops = ("alpha_white",)
        c.model.fmap_base = 2048
        c.model.fmap_max = 256
        c.total_steps = 40_000  # 4x4..64x64: 36,000 steps of growth, then 4,000 at 64x64
        _batch_sizes(c, {32: 32, 64: 16})
        del c.evals["sample_quality"]  # gendl's classifier covers MNIST and Fashion-MNIST

    return config_lib.apply_variant(
        c, arg, {"smoke": smoke, "fashion_mnist": fashion_mnist, "emoji": emoji}
    )
