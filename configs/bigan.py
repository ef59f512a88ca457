"""BiGAN / ALI on MNIST (Donahue et al. 2017, "Adversarial Feature Learning", permutation-
invariant MNIST setting, as its code runs it: jeffdonahue/bigan train_mnist.sh, net.py
mnist_mlp / deconvnet_mnist_mlp, train_gan.py; Dumoulin et al. 2017):
  z ~ U(-1, 1)^50; G, E and D have two 1024-unit hidden layers, N(0, 0.02) weights;
  G: ReLU, parameter-free batch norm on both hidden layers, z fed again into the second,
     sigmoid output;
  E: LeakyReLU(0.2), batch norm on the second layer, code 2 sigmoid(a) - 1 in (-1, 1);
  D(x, z): x -> 1024 LeakyReLU(0.2); z enters the second layer linearly; batch norm on the
     second layer (real and generated pairs normalised separately); logit layer from zero;
  non-saturating losses for D and for G + E (labels swapped), Adam(2e-4, b1 = 0.5), L2 weight
  decay 2.5e-5 added to the gradients, batch 128. No dropout: the MNIST script leaves the
  code's --net_fc_drop at 0.
Not reproduced: the code updates D, G and E simultaneously from one batch (gendl's step is D
first, then G and E on fresh noise); its layers have no biases; it trains 400 epochs with the
learning rate decayed exponentially to 1% over the last 200 (a constant rate here); its test-
time batch norm statistics are averages over 1,000 batches after training (running averages
here).

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
    c.model.d_hidden = (1024, 1024)  # x path (first), joint trunk (rest)
    c.model.d_z_hidden = ()  # z enters the joint trunk's first layer linearly
    c.model.g_z_skip = True
    c.model.batch_norm = True
    c.model.bounded_code = True
    c.model.init_std = 0.02
    c.model.e_leak = 0.2

    c.objective.name = "bigan"
    c.objective.loss = "non_saturating"

    c.optimizer.learning_rate = 2e-4
    c.optimizer.b1 = 0.5
    c.optimizer.b2 = 0.999
    c.optimizer.weight_decay = 2.5e-5

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
        c.model.g_hidden = c.model.e_hidden = (32, 32)
        c.model.d_hidden = (32, 32)
        del c.evals["sample_quality"]  # gan.py:smoke exercises it
        for ev in c.evals.values():
            ev.every_steps = 10

    return config_lib.apply_variant(c, arg, {"smoke": small})
