"""DualGAN (Yi et al. 2017, "DualGAN: Unsupervised Dual Learning for Image-to-Image
Translation"): Google-style <-> Twitter-style emoji, learnt WITHOUT pairs, on the streams of
cyclegan.py (domain a: <manual_dir>/emoji/google, the main stream; domain b:
<manual_dir>/emoji/twitter, config.data.streams.b; pairing by file name used only to score).

To the paper: U-Net generators (pix2pix's, models/unet.py, 6 levels at 64x64, ngf 64; dropout
is the noise), 70x70 PatchGAN critics with batch norm, Wasserstein losses with every critic
parameter clipped to [-0.01, 0.01], L1 reconstruction losses of weight lambda_a = lambda_b =
200, n_critic = 3 critic steps per generator step, RMSProp at 5e-5 for all networks. The
paper gives ranges (n_critic 2-4, c in [0.01, 0.1], lambda in [100, 1000], batch size 1-4);
the values are those of the authors' code at the paper's release (see
gendl/objectives/dualgan.py). Batch size 4; 100,000 steps (~390 epochs of critic batches: the
paper gives no length).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/dualgan.py --workdir=runs/dualgan
Translate either way (with the generator's dropout noise from --seed, as the paper):
    python -m gendl.translate --workdir=runs/dualgan --input=my_emoji/ --output=out/ [--direction=b2a]
Test-split L1 / PSNR / SSIM against the true pairs and the identity baseline, both ways:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/dualgan
CPU smoke run (seconds; 32x32 images, narrow nets):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/dualgan.py:smoke --workdir=/tmp/dualgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "cyclegan")  # the data, evaluators and logging
    c.total_steps = 100_000
    c.batch_size = 4

    c.model = config_lib.base_config().model
    c.model.name = "dualgan"
    c.model.domains = ("image", "b/image")
    c.model.levels = 6  # 64 -> 1 pixel at the bottleneck
    c.model.ngf = 64
    c.model.dropout_levels = -1  # -1: the reference pix2pix rule (levels - 5)
    c.model.ndf = 64
    c.model.n_layers = 3
    c.model.conv_impl = "auto"

    c.objective = config_lib.base_config().objective
    c.objective.name = "dualgan"
    c.objective.n_critic = 3
    c.objective.weight_clip = 0.01
    c.objective.lambda_a = 200.0
    c.objective.lambda_b = 200.0

    c.optimizer = config_lib.base_config().optimizer
    c.optimizer.name = "rmsprop"
    c.optimizer.learning_rate = 5e-5
    c.optimizer.decay = 0.9  # the reference code's RMSProp decay
    # Its tf.train.RMSPropOptimizer: eps 1e-10 inside the square root.
    c.optimizer.eps = 1e-10
    c.optimizer.eps_in_sqrt = True

    def smoke(c):
        config_lib.smoke(c)
        tiny = ("alpha_white", "resize:36", "random_crop:32", "random_flip")
        c.data.ops = c.data.streams.b.ops = tiny
        c.data.test_ops = c.data.streams.b.test_ops = ("alpha_white", "resize:32")
        c.model.levels = 5
        c.model.ngf = c.model.ndf = 8
        c.model.dropout_levels = 1  # the reference rule gives none at 5 levels
        c.objective.n_critic = 2  # half the compile time
        c.log.num_samples = 4
        config_lib.sibling_module(__file__, "cyclegan").no_style_scores(c)

    return config_lib.apply_variant(c, arg, {"smoke": smoke})
