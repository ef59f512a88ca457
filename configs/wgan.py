"""WGAN (Arjovsky et al. 2017, "Wasserstein GAN", Algorithm 1) on MNIST: critic loss
E[D(fake)] - E[D(real)], every critic parameter clipped to [-0.01, 0.01] after each update,
5 critic steps per generator step, RMSProp(5e-5) for both networks, batch 64, on the DCGAN
networks of dcgan.py (batch norm, as in the paper's DCGAN experiments). The reference code
also gives the critic 100 steps in each of the first 25 generator iterations and in every
500th; `--config.objective.critic_burst=100` turns these bursts on (burst_first=25,
burst_every=500 are set). Off by default, as in the paper's Algorithm 1. A burst's critic steps
run in a lax.scan, as fast per step as the unrolled ones (0.03 s on the 2-core CPU at
model.dim=32); at 4,000 iterations they gave FID 170.0 against 175.3 (README).
wgan_gp.py is the gradient-penalty successor.

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/wgan.py --workdir=runs/wgan
CPU smoke run (seconds):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/wgan.py:smoke --workdir=/tmp/wgan_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.sibling_config(__file__, "dcgan", arg)  # and its variants (:smoke, :cifar10)
    c.batch_size = 64
    c.objective.loss = "wasserstein"
    c.objective.n_critic = 2 if "smoke" in (arg or "") else 5  # smoke: half the compile time
    c.objective.weight_clip = 0.01
    c.objective.critic_burst = 0  # 100: the reference code's bursts (docstring)
    c.objective.burst_first = 25
    c.objective.burst_every = 500
    c.optimizer.name = "rmsprop"
    c.optimizer.learning_rate = 5e-5
    c.optimizer.decay = 0.99  # PyTorch RMSprop's alpha, as in the reference code
    return c
