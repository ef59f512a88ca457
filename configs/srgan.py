"""SRGAN (Ledig et al. 2017): the SRResNet generator of configs/srresnet.py trained on a
perceptual loss, content loss in a frozen feature network + 1e-3 x adversarial (-log D(G(x))),
against the paper's discriminator (gendl/models/srresnet.py), initialised from a trained
SRResNet run (config.init_from; the paper's SRGAN starts from its SRResNet). Emoji x4 (16x16
-> 64x64) by default, `:mnist` 7x7 -> 28x28.

The feature network (gendl/objectives/feature_networks.py) is named by
config.objective.content. The paper uses VGG19's relu5_4 with ImageNet weights; where no
such file is at hand (as on this project's machines), gendl's own classifier of the same data
serves: "classifier:emoji_style" (the emoji style classifier of configs/emoji_style.py) or
"classifier:mnist" (the MNIST classifier of the sample-quality metrics), its last conv stage
after ReLU, built on first need and cached. Its parameters are never trained or
checkpointed. The results name the network used.

Measured (2026-12-02, 2 shared CPU cores): `:mnist,cpu` from the SRResNet run of 18,853
steps, 2,644 steps (9.5 min): PSNR 21.59 dB (SRResNet 24.37, bicubic 14.47), SSIM 0.824, FID
in the MNIST classifier's features 7.69 (SRResNet 2.37): the PSNR trade-off of the paper, but
not yet its lower FID at this length (the discriminator was winning: d_real 4.8, d_fake -4.5).

Run (after configs/srresnet.py trained in runs/srresnet, with the same variant):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srgan.py --config.init_from=runs/srresnet --workdir=runs/srgan
MNIST:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srgan.py:mnist --config.init_from=runs/srresnet_mnist --workdir=runs/srgan_mnist
One run that pretrains with the MSE first (phase "pretrain"), then goes adversarial:
    ... --config=configs/srgan.py --config.objective.pretrain_steps=100000 --config.total_steps=200000
SRGAN-MSE (the paper's ablation: pixel content loss + adversarial):
    ... --config=configs/srgan.py --config.objective.content=mse
Upscale images, evaluate: as configs/srresnet.py (gendl.translate, gendl.evaluate).
CPU smoke run (seconds; pixel content, one pretraining step then adversarial steps):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srgan.py:smoke --workdir=/tmp/srgan_smoke
"""

from gendl import config as config_lib

# The feature network of each data set's content loss.
CONTENT = {"emoji": "classifier:emoji_style", "mnist": "classifier:mnist"}


def get_config(arg=None):
    srresnet = config_lib.sibling_module(__file__, "srresnet")
    c = srresnet.base()
    c.objective.adversarial_weight = 1e-3
    c.objective.content = CONTENT["emoji"]
    # Weight of the feature-space MSE, and of the pixel MSE beside it (0: the paper's
    # SRGAN-VGG54, which has none).
    c.objective.content_weight = 1.0
    c.objective.pixel_weight = 0.0
    # > 0: this many MSE-only steps first (phase "pretrain"), for a run without init_from.
    c.objective.pretrain_steps = 0
    # Options of the feature network (classifier: classifier_workdir, classifier_overrides).
    c.objective.feature_network = dict()

    def mnist(c):
        srresnet.mnist(c)
        if c.objective.content != "mse":  # not turned off by a variant before it
            c.objective.content = CONTENT["mnist"]

    def smoke(c):
        srresnet.smoke(c)
        # A smoke run must not train a feature classifier: pixel content loss;
        # tests/test_srgan.py runs the feature-network loss on a tiny classifier.
        c.objective.content = "mse"
        c.objective.pretrain_steps = 1

    variants = {**srresnet.VARIANTS, "mnist": mnist, "smoke": smoke}
    return config_lib.apply_variant(c, arg, variants)
