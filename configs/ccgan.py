"""CC-GAN (Denton, Gross & Fergus 2016, "Semi-Supervised Learning with Context-Conditional
Generative Adversarial Networks") on MNIST with 100 labels: the generator fills a 14x14 hole
(half the side, the paper's ratio) cut at a random place out of each unlabelled image; the
discriminator tells real images from in-painted ones and, on a second head, classifies the
digit; it is trained on the 100 labelled images (10 per class, chosen by config.seed, as for
configs/sgan.py) at the same time. The paper works on STL-10 and PASCAL with VGG networks;
here both networks are small convnets for 28x28 images (models/ccgan.py). Adam(2e-4, b1=0.5);
the test classifier is the discriminator with averaged parameters (config.ema.decay).

Reported: `eval/classification/test_error_n10000`, the discriminator's error on the 10,000
MNIST test images (the evaluator configs/sgan.py uses).

The paper's two heads gain nothing here: the unlabelled and in-painted images never reach the
class head (its gradient from the adversarial loss is 0), which fits the 100 labels alone
(17.7% test error at 1,676 steps; the labels-only baseline 18.0%). `:k_plus_one` (Salimans et
al.'s K+1 classes, D(x) = Z / (Z + 1) from the class logits; a deviation from the paper) lets
them train it: `:k_plus_one,cc_gan2` 11.4% at 1,200 steps (23 min on a shared 2-core CPU)
against `:supervised_only`'s 18.0% at the same steps, both with --config.ema.decay=0.995;
`:k_plus_one` alone 12.6% at 900 steps (the baseline 17.8%).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/ccgan.py --workdir=runs/ccgan
CC-GAN^2 (the generator's whole output is shown to the discriminator as a fake too):
    ... --config=configs/ccgan.py:cc_gan2
The generator also sees a 4x-downsampled copy of the whole image (the paper's low-resolution
conditioning; combine with cc_gan2 as `:cc_gan2,low_res`):
    ... --config=configs/ccgan.py:low_res
K+1 discriminator (no real/in-painted head; the semi-supervised gain; add `,cc_gan2` for
the 1,200-step figure above):
    ... --config=configs/ccgan.py:k_plus_one
The baseline: the same discriminator trained on the 100 labels alone (the in-painting game
still runs but does not reach the discriminator):
    ... --config=configs/ccgan.py:supervised_only
Evaluate the latest checkpoint:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/ccgan --evals=classification
Fill a 14x14 hole in the middle of any images with the trained generator:
    python -m gendl.translate --workdir=runs/ccgan --input=digits/ --output=filled/
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/ccgan.py:smoke --workdir=/tmp/ccgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 20_000
    c.batch_size = 64
    c.data.name = "mnist"
    c.data.num_labelled = 100
    c.data.labelled_batch_size = 50

    c.model.name = "ccgan"
    c.model.ngf = 32
    c.model.ndf = 32
    c.model.levels = 2  # 28 -> 7
    c.model.bottleneck = 2
    c.model.num_classes = 10
    c.model.dropout = 0.5
    c.model.low_res_factor = 0  # 4: the generator also sees a 7x7 copy of the whole image
    # True: no real/in-painted head; D(x) = Z / (Z + 1) from the class logits (Salimans et al.)
    c.model.k_plus_one = False
    c.model.conv_impl = "auto"

    c.objective.name = "ccgan"
    c.objective.hole_size = 14  # 0: half the image side
    c.objective.class_weight = 1.0  # lambda_c
    c.objective.full_image_fake = False  # True: CC-GAN^2
    c.objective.adversarial_weight = 1.0  # 0: the supervised-only baseline

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5
    c.ema.decay = 0.999

    c.evals.classification = dict(
        type="classification", every_steps=1000, num_examples=10_000, batch_size=500
    )
    c.checkpoint.every_steps = 1000
    c.log.every_steps = 100
    c.log.sample_every_steps = 2000
    c.log.num_samples = 16

    def smoke(c):
        config_lib.smoke(c)
        c.batch_size = 8
        c.data.labelled_batch_size = 0  # = batch_size
        c.model.ngf = 8
        c.model.ndf = 8
        c.model.bottleneck = 1
        c.evals.classification.every_steps = 10
        c.ema.decay = 0.9

    def cc_gan2(c):
        c.objective.full_image_fake = True

    def low_res(c):
        c.model.low_res_factor = 4

    def supervised_only(c):
        c.objective.adversarial_weight = 0.0

    def k_plus_one(c):
        c.model.k_plus_one = True

    variants = {"smoke": smoke, "cc_gan2": cc_gan2, "low_res": low_res, "k_plus_one": k_plus_one}
    return config_lib.apply_variant(c, arg, {**variants, "supervised_only": supervised_only})
