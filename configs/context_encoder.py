"""Context encoder (Pathak et al. 2016, "Context Encoders: Feature Learning by Inpainting"):
inpaint the central quarter of 64x64 emoji, both styles of <manual_dir>/emoji/google and
<manual_dir>/emoji/twitter (transparency composited onto white; split by file name, 10%
test). Encoder-decoder with the channel-wise fully connected bottleneck
(models/context_encoder.py), PatchGAN discriminator of the completed image, loss 0.999 x L2
on the hole (+ the authors' 10x weighted overlap band of 1/32 of the side) + 0.001 x
adversarial; Adam(b1 = 0.5) with the generator at 2e-3 and the discriminator at 2e-4 (the
authors' code gives G ten times D's rate), batch 64.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/context_encoder.py --workdir=runs/ce
The paper's L2-only baseline (no discriminator):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/context_encoder.py:l2_only --workdir=runs/ce_l2
Random-block masks instead of the centre hole; MNIST or Fashion-MNIST (28x28, 14x14 hole):
    ... --config=configs/context_encoder.py:random_blocks
    ... --config=configs/context_encoder.py:mnist       (or :fashion_mnist, :mnist,l2_only)
Hole L1 / L2 / PSNR against the mean-colour and diffusion fills, FID/KID of the completed
images in the emoji style classifier's (or gendl's MNIST classifier's) features, and the
masked | completed | target grid:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/ce
Complete your own images (the config's hole, or a mask image: white = missing):
    python -m gendl.translate --workdir=runs/ce --input=my_emoji/ --output=completed/ [--mask=hole.png]
Measured (README, "Inpainting"): CPU-sized nets (width 16), centre hole, 2,101 steps at batch 32
on emoji: hole PSNR 16.43 dB (L2-only 15.93, diffusion fill 14.59, mean fill 10.30), FID in the
style classifier's features 1.19 (L2-only 2.30); MNIST, 2,441 steps at batch 64: 12.29 dB
(11.82, 7.77, 6.31), FID 30.1 (43.7).
CPU smoke run (seconds; 32x32, narrow nets, no FID):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/context_encoder.py:smoke --workdir=/tmp/ce_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 10_000  # ~100 epochs of the ~6,200 training emoji at batch 64
    c.batch_size = 64

    c.data.name = "emoji"
    c.data.source = "labelled_folders"
    c.data.paths = ("{manual_dir}/emoji/google", "{manual_dir}/emoji/twitter")
    c.data.names = ("google", "twitter")
    c.data.ops = ("alpha_white", "random_flip")
    c.data.test_ops = ("alpha_white",)

    c.model.name = "context_encoder"
    c.model.nef = 64
    c.model.ngf = 64
    c.model.ndf = 64
    c.model.n_layers = 3
    c.model.conv_impl = "auto"

    c.objective.name = "context_encoder"
    c.objective.mask = "centre"
    c.objective.lambda_rec = 0.999
    c.objective.lambda_adv = 0.001
    c.objective.overlap = 2  # the authors' 4 px of 128, at 64 px
    c.objective.overlap_weight = 10.0
    c.objective.fill = 0.0  # the hole's value on the [-1, 1] scale: mid grey
    c.objective.l2_only = False

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5
    c.optimizer.generator = dict(learning_rate=2e-3)

    # Hole L1/L2/PSNR of the model and of the fills, FID/KID of completed images in the emoji
    # style classifier's features (configs/emoji_style.py, built on first need in
    # $GENDL_CACHE_DIR/classifier/emoji_style); at the end of training and from
    # `python -m gendl.evaluate --workdir=W`. Own folders: --config.evals.inpainting.
    # feature_classifier='' turns FID/KID off.
    c.evals.inpainting = dict(
        type="inpainting", every_steps=0, num_pictures=16, feature_classifier="emoji_style"
    )

    c.checkpoint.every_steps = 1000
    c.log.every_steps = 100
    c.log.num_samples = 16
    c.log.sample_every_steps = 1000

    def mnist(c, name="mnist"):
        c.data.name = name
        c.data.source = "tfds_prepared"
        c.data.paths, c.data.names = (), ()
        c.data.ops = ()
        del c.data["test_ops"]
        c.objective.overlap = 1
        c.evals.inpainting.feature_classifier = name
        c.evals.inpainting.num_examples = 2000

    def fashion_mnist(c):
        mnist(c, "fashion_mnist")

    def random_blocks(c):
        c.objective.mask = "random_blocks:0.25:8"

    def l2_only(c):
        c.objective.l2_only = True
        del c.optimizer["generator"]  # the authors' code: one rate when there is no D

    def smoke(c):
        config_lib.smoke(c)
        c.batch_size = 4
        if c.data.source == "labelled_folders":
            c.data.ops = ("alpha_white", "resize:32", "random_flip")
            c.data.test_ops = ("alpha_white", "resize:32")
        c.model.nef = c.model.ngf = c.model.ndf = 8
        c.log.num_samples = 4
        # A smoke run must not train a feature classifier.
        c.evals.inpainting.feature_classifier = ""
        c.evals.inpainting.num_pictures = 4

    variants = {
        "mnist": mnist,
        "fashion_mnist": fashion_mnist,
        "random_blocks": random_blocks,
        "l2_only": l2_only,
        "smoke": smoke,
    }
    return config_lib.apply_variant(c, arg, variants)
