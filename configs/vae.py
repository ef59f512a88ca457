"""VAE on dynamically binarised MNIST: MLP 784-400-20 encoder and decoder (ReLU), Bernoulli
decoder likelihood, batch 128, Adam(1e-3) (Kingma & Welling 2014; the classic PyTorch example,
which is also ../shared/bench/torch_ref.py's `vae` workload).

Run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/vae.py --workdir=runs/vae
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/vae.py:smoke --workdir=/tmp/vae_smoke
Benchmark the train step:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.bench --config=configs/vae.py
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 50_000
    c.batch_size = 128
    c.data.name = "mnist"
    # A fresh binary sample of each image per use: the standard likelihood protocol on MNIST.
    c.data.binarize = "dynamic"

    c.model.name = "mlp_vae"
    c.model.hidden = (400,)
    c.model.latent_dim = 20
    c.model.activation = "relu"
    c.model.likelihood = "bernoulli"
    c.model.num_classes = 0

    c.objective.name = "vae"
    c.objective.beta = 1.0
    c.objective.kl_warmup_steps = 0
    c.objective.bound = "elbo"
    c.objective.num_samples = 1

    c.optimizer.learning_rate = 1e-3
    # 20 train steps per compiled call (a scan over 20 batches, bitwise equal to 20 single
    # steps: tests/test_steps_per_call.py): this 0.45-GFLOP step is dispatch-bound on CPU, and
    # on a quiet 2-core machine the loop ran 2.2x the PyTorch peer with it against 1.6x
    # without (README "Performance").
    c.steps_per_call = 20

    # The likelihood protocol: test ELBO and -log p(x) with k=5000 importance samples on all
    # 10,000 test images under one fixed binarisation (seed 0); run at the end of training.
    c.evals.likelihood = dict(
        type="likelihood",
        every_steps=0,
        num_samples=5000,
        num_examples=10_000,
        chunk_size=500,
        batch_size=200,
        seed=0,
    )
    c.evals.reconstruction = dict(
        type="reconstruction", every_steps=5000, num_examples=10_000, batch_size=200
    )
    c.evals.pictures = dict(type="pictures", every_steps=5000, num_examples=200, batch_size=200)

    c.checkpoint.every_steps = 5000
    c.log.every_steps = 200
    c.log.sample_every_steps = 5000

    return config_lib.apply_variant(c, arg, {"smoke": config_lib.smoke})
