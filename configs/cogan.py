"""CoGAN (Liu & Tuzel 2016, "Coupled Generative Adversarial Networks"): pairs of an MNIST
digit and its edge image from one noise vector, learnt from two disjoint halves of the
training set (even-numbered examples: digits; odd-numbered: edge images of other digits), so
no pair is ever seen. `:negative`: the digit and its negative, the paper's other digit task.

Networks: the paper's Table 1 with the authors' PyTorch layer sizes (models/cogan.py): the
generators share 4 of their 5 layers, the discriminators 3 of their 4. Training as the
authors' PyTorch code: batch 64 per domain, Adam(2e-4, b1=0.5), L2 weight decay 5e-4, the
non-saturating GAN loss, N(0, I) noise of 100 dimensions, 5,000 steps (their max_iter).
Domain 2 is derived on the device by the same function the pair-agreement metric applies to
generated digits (gendl/data/derived_domains.py).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cogan.py --workdir=runs/cogan
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cogan.py:negative --workdir=runs/cogan_negative
Pixel agreement of the generated pairs, and class agreement of their halves by gendl's MNIST
classifier (built on first need, see configs/classifier.py), at the end of training and from
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/cogan
CPU smoke run (seconds; narrow generator):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/cogan.py:smoke --workdir=/tmp/cogan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 5000
    c.batch_size = 64

    c.data.name = "mnist"
    c.data.partition = (0, 2)  # domain 1: every other training digit, from the first
    c.data.streams.b = dict(partition=(1, 2))  # domain 2 from the others

    c.model.name = "cogan28"
    c.model.z_dim = 100
    c.model.widths = (1024, 512, 256, 128)  # the shared generator layers
    c.model.conv_impl = "auto"

    c.objective.name = "cogan"
    c.objective.transform = "edges"
    c.objective.loss = "non_saturating"
    c.objective.weight_decay = 5e-4

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5

    # Pixel agreement (the transform of the generated digit vs the generated domain-2
    # image, both thresholded at 0.5) and class agreement of the two halves by gendl's MNIST
    # classifier, on 10,000 pairs at the end of training.
    c.evals.pairs = dict(type="pair_agreement", every_steps=0, num_samples=10_000)

    c.checkpoint.every_steps = 1000
    c.log.every_steps = 100
    c.log.num_samples = 64  # 8x8 pairs
    c.log.sample_every_steps = 500

    def negative(c):
        c.objective.transform = "negative"

    def smoke(c):
        config_lib.smoke(c)
        c.batch_size = 8
        c.model.widths = (32, 16, 16, 8)
        # Pixel agreement only: a smoke run must not train the MNIST classifier.
        c.evals.pairs.update(num_samples=16, batch_size=8, classifier=False)

    return config_lib.apply_variant(c, arg, {"smoke": smoke, "negative": negative})
