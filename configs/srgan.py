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

The content loss's weight is calibrated to each feature network as the paper calibrates VGG's
(CONTENT below); `:cpu` keeps the paper's SRGAN learning rate, 1e-4.

Measured (2026-12-02, :cpu network, 2 shared CPU cores, full test splits, each SRGAN run
against SRResNet continued from the same checkpoint for the same steps at 1e-4):
  :mnist,cpu  +1,500 steps (10 min): FID 2.12 (SRResNet 3.24), PSNR 22.88 dB (23.93)
  :cpu        +1,000 steps on emoji: FID 0.54 (SRResNet 1.20), PSNR 23.50 dB (26.31)
The paper's trade-off: outputs that look more real to a network, at a lower PSNR.

Run (after configs/srresnet.py trained in runs/srresnet, with the same variant):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srgan.py --config.init_from=runs/srresnet --workdir=runs/srgan
MNIST:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srgan.py:mnist --config.init_from=runs/srresnet_mnist --workdir=runs/srgan_mnist
One run that pretrains with the MSE first (phase "pretrain"), then goes adversarial:
    ... --config=configs/srgan.py --config.objective.pretrain_steps=100000 --config.total_steps=200000
SRGAN-MSE (the paper's ablation: pixel content loss + adversarial):
    ... --config=configs/srgan.py --config.objective.content=mse
Upscale images, evaluate: as configs/srresnet.py (gendl.translate, gendl.evaluate); beside the
SRResNet it started from, one grid low-res | bicubic | SRResNet | SRGAN | target:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/srgan --set=super_resolution.compare_with=runs/srresnet
CPU smoke run (seconds; pixel content, one pretraining step then adversarial steps):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/srgan.py:smoke --workdir=/tmp/srgan_smoke
"""

from gendl import config as config_lib

# Each data set's feature network and the weight of the content loss in it. The weight makes
# the feature loss comparable to the pixel MSE, the paper's own rule (it rescales VGG's
# features by 1/12.75 "to obtain VGG losses of a scale that is comparable to the MSE loss"):
# the MSE over the content loss, both measured at the start from a trained SRResNet (emoji:
# 0.0125 / 0.0002 in the emoji style classifier's last conv stage; MNIST: 0.025 / 0.006). With
# content "vgg19:<file>", set content_weight by the same rule (the paper's rescaling is a
# weight of 1/12.75^2 ~ 0.006 on VGG54's raw features).
# Uncalibrated (weight 1), the 1e-3 adversarial term outweighed a small classifier's feature
# loss and PSNR fell below bicubic's (emoji: 15.99 dB after 1,131 steps).
CONTENT = {"emoji": ("classifier:emoji_style", 50.0), "mnist": ("classifier:mnist", 3.0)}


def get_config(arg=None):
    srresnet = config_lib.sibling_module(__file__, "srresnet")
    c = srresnet.base()
    c.objective.adversarial_weight = 1e-3
    c.objective.content, c.objective.content_weight = CONTENT["emoji"]
    # Weight of the pixel MSE beside the content loss (0: the paper's SRGAN-VGG54, which has
    # none; content "mse" is its SRGAN-MSE).
    c.objective.pixel_weight = 0.0
    # > 0: this many MSE-only steps first (phase "pretrain"), for a run without init_from.
    c.objective.pretrain_steps = 0
    # Options of the feature network (classifier: classifier_workdir, classifier_overrides).
    c.objective.feature_network = dict()

    def mnist(c):
        srresnet.mnist(c)
        if c.objective.content != "mse":  # not turned off by a variant before it
            c.objective.content, c.objective.content_weight = CONTENT["mnist"]

    def cpu(c):
        srresnet.cpu(c)
        # The paper's SRGAN rate, whatever the network's size: SRResNet's CPU rate of 5e-4
        # would move a trained generator far in its first adversarial steps.
        c.optimizer.learning_rate = 1e-4

    def smoke(c):
        srresnet.smoke(c)
        # A smoke run must not train a feature classifier: pixel content loss;
        # tests/test_srgan.py runs the feature-network loss on a tiny classifier.
        c.objective.content, c.objective.content_weight = "mse", 1.0
        c.objective.pretrain_steps = 1

    variants = {**srresnet.VARIANTS, "mnist": mnist, "cpu": cpu, "smoke": smoke}
    return config_lib.apply_variant(c, arg, variants)
