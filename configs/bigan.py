"""BiGAN / ALI on MNIST (Donahue et al. 2017, "Adversarial Feature Learning", permutation-
invariant MNIST setting; Dumoulin et al. 2017): z ~ U(-1, 1)^50, generator, encoder and joint
discriminator D(x, z) are MLPs with 1024-unit hidden layers, Adam(2e-4, b1 = 0.5), batch 128.
The paper's D also uses dropout and its networks batch norm; left out here.

Pictures: `eval/reconstruction/reconstructions` (test inputs, G(E(x)) right below) with BCE,
MSE and PSNR of G(E(x)) on the test split; `eval/pictures/*` (prior samples, interpolations
between encoded test images).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/bigan.py --workdir=runs/bigan
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/bigan.py:smoke --workdir=/tmp/bigan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 100_000
    c.batch_size = 128
    c.data.name = "mnist"

    c.model.name = "bigan_mlp"
    c.model.z_dim = 50
    c.model.g_hidden = (1024, 1024)
    c.model.e_hidden = (1024, 1024)
    c.model.d_hidden = (1024, 1024)  # x and z paths (first), joint trunk (rest)

    c.objective.name = "bigan"
    c.objective.loss = "non_saturating"

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5
    c.optimizer.b2 = 0.999

    c.evals.reconstruction = dict(
        type="reconstruction", every_steps=5000, num_examples=10_000, batch_size=500
    )
    c.evals.pictures = dict(type="pictures", every_steps=5000, num_examples=100, batch_size=100)
    # FID/KID/precision/recall/IS/classes present of generated digits in gendl's classifier
    # features, from `python -m gendl.evaluate --workdir=W --evals=sample_quality` only.
    c.evals.sample_quality = config_lib.sample_quality()
    c.checkpoint.every_steps = 5000
    c.log.every_steps = 500
    c.log.sample_every_steps = 5000

    def small(c):
        config_lib.smoke(c)
        c.model.g_hidden = c.model.e_hidden = (32,)
        c.model.d_hidden = (32, 32)
        del c.evals["sample_quality"]  # gan.py:smoke exercises it
        for ev in c.evals.values():
            ev.every_steps = 10

    return config_lib.apply_variant(c, arg, {"smoke": small})
