"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"):
8-layer mapping network at learning rate x0.01, modulated/demodulated convolutions with
per-layer noise, skip generator, residual discriminator (models/stylegan2.py);
non-saturating logistic loss, lazy R1 every 16 steps and path-length regularisation every 4,
style mixing 0.9, EMA generator with ramp-up (objectives/stylegan2.py). Adam(0.0025, b1=0,
b2=0.99, eps=1e-8) as the official code. MNIST's 28x28 digits are padded to 32x32 for
training and samples cropped back to 28x28.

Widths are reduced for CPUs: nf = min(fmap_base / 2**stage, fmap_max) gives 128 channels at
4x4..16x16 and 64 at 32x32, z and w of 128 dimensions (the paper's CIFAR-10 model: 512
everywhere). On a GPU pass e.g. --config.model.fmap_base=16384 --config.model.fmap_max=512
--config.model.z_dim=512 --config.model.w_dim=512.

Run (MNIST, offline from the original files):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/stylegan2.py --workdir=runs/stylegan2
Variants, combinable with commas:
  :diffaug   DiffAugment (color, translation, cutout) on every image D sees
  :ada       ADA, p adapted towards sign(D(real)) = 0.6 (geometric + colour groups)
  :cond      class-conditional (label embedding into the mapping, projection discriminator)
  :data20 / :data10   only 20% / 10% of the training set (config.data.partition)
  :fashion_mnist      Fashion-MNIST
  :emoji     64x64 colour emoji of one style, <manual_dir>/emoji/twitter
e.g. the limited-data table's cells:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/stylegan2.py:data10,diffaug --workdir=runs/sg2_10_diffaug
FID/KID/IS/precision-recall in gendl's classifier features (MNIST, Fashion-MNIST):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=runs/stylegan2 --evals=sample_quality
Samples with truncation psi:
    python -m gendl.sample --workdir=runs/stylegan2 --num_samples=64 --truncation=0.7 --out=samples.npz
Style-mixing and truncation grids (also written at the end of training), an interpolation
GIF, and the projection of an image into w:
    python -m gendl.evaluate --workdir=runs/stylegan2 --evals=style_mixing,truncation
    python -m gendl.interpolate --workdir=runs/stylegan2 --frames=60 --out=interp/
    python -m gendl.project --workdir=runs/stylegan2 --image=digit.png --out=proj/
CPU smoke run (MNIST at 6x6 padded to 8x8, with ADA and both lazy penalties):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/stylegan2.py:smoke --workdir=/tmp/stylegan2_smoke
"""

from gendl import config as config_lib


def get_config(arg=None):
    c = config_lib.base_config()
    c.batch_size = 32
    c.data.name = "mnist"
    c.total_steps = 50_000

    c.model.name = "stylegan2"
    c.model.resolution = 0  # 0: the smallest power of two holding the images (32 for MNIST)
    c.model.z_dim = 128
    c.model.w_dim = 128
    c.model.mapping_layers = 8
    c.model.mapping_lr_multiplier = 0.01
    c.model.fmap_base = 1024
    c.model.fmap_max = 128
    c.model.mbstd_group_size = 4
    c.model.num_classes = 0
    # How the per-sample modulated convolution is computed (models/stylegan2.py); the same
    # function. "activations" was the fastest on XLA:CPU (README "StyleGAN2").
    c.model.modconv = "activations"
    c.model.dtype = "float32"

    c.objective.name = "stylegan2"
    # R1 gamma: stylegan2-ada's CIFAR-10 value (its heuristic 0.0002 * res^2 / batch gives
    # 0.0064 here); interval 16 as the paper's lazy regularisation.
    c.objective.r1_gamma = 0.01
    c.objective.r1_interval = 16
    c.objective.pl_weight = 2.0
    c.objective.pl_interval = 4
    c.objective.pl_batch_shrink = 2
    c.objective.pl_decay = 0.01
    c.objective.style_mixing = 0.9
    c.objective.augment = ""  # "", "diffaug" or "ada"
    c.objective.diffaug_policy = "color,translation,cutout"
    c.objective.ada_target = 0.6
    c.objective.ada_interval = 4
    c.objective.ada_kimg = 500.0  # p moves at most 1 per 500k images (the paper)
    c.objective.ada_p_init = 0.0

    c.optimizer.learning_rate = 0.0025
    c.optimizer.b1 = 0.0
    c.optimizer.b2 = 0.99
    c.optimizer.eps = 1e-8
    # The official EMA: half-life ema_kimg = 10 thousand images at batch 32, ramped up over
    # the first images (rampup 0.05).
    c.ema.half_life_images = 10_000
    c.ema.rampup = 0.05

    # FID/KID/IS/PR against the test split in gendl's classifier features, at the end.
    c.evals.sample_quality = config_lib.sample_quality(every_steps=0)
    # Pictures at the end (EMA weights): style mixing (A's coarse styles, up to 8x8, with B's
    # middle and fine ones) and truncation (rows: seeds; columns: psi) grids
    # (gendl/evaluation/style_grids.py).
    c.evals.style_mixing = dict(type="style_mixing", every_steps=0, rows=5, columns=6)
    c.evals.truncation = dict(type="truncation_grid", every_steps=0, rows=6)

    c.checkpoint.every_steps = 2000
    c.log.every_steps = 100
    c.log.num_samples = 64
    c.log.sample_every_steps = 1000

    def smoke(c):
        config_lib.smoke(c)
        # MNIST shrunk to 6x6 and padded to 8x8, with ADA, so a resumed smoke run checks p and
        # the path-length mean: R1 and path length every 2 steps (phases r1_pl, main, ...),
        # p adjusted every 2 steps by 8 * 2 / 100 = 0.16; a checkpoint at step 3.
        c.data.ops = ("resize:6",)
        c.batch_size = 8
        c.model.z_dim = 8
        c.model.w_dim = 8
        c.model.mapping_layers = 2
        c.model.fmap_base = 32
        c.model.fmap_max = 8
        c.objective.r1_interval = 2
        c.objective.pl_interval = 2
        c.objective.augment = "ada"
        c.objective.ada_interval = 2
        c.objective.ada_kimg = 0.1
        c.ema.half_life_images = 40
        c.total_steps = 6
        c.checkpoint.every_steps = 3
        c.log.sample_every_steps = 3
        c.evals.sample_quality.update(every_steps=-1, kid_subsets=5, is_splits=2)
        c.evals.style_mixing.every_steps = -1  # from gendl.evaluate only: smoke stays seconds
        c.evals.truncation.every_steps = -1

    def diffaug(c):
        c.objective.augment = "diffaug"

    def ada(c):
        c.objective.augment = "ada"

    def cond(c):
        c.model.num_classes = 10

    def data20(c):
        c.data.partition = (0, 5)  # every 5th training example: 12,000 of MNIST's 60,000

    def data10(c):
        c.data.partition = (0, 10)

    def fashion_mnist(c):
        c.data.name = "fashion_mnist"

    def emoji(c):
        # 3,433 RGBA 64x64 PNGs, composited onto white; 90% train by the folder's hash split.
        c.data.source = "folder"
        c.data.path = "{manual_dir}/emoji/twitter"
        c.data.ops = ("alpha_white",)
        c.model.fmap_base = 2048
        c.model.fmap_max = 256
        c.model.z_dim = 256
        c.model.w_dim = 256
        c.objective.r1_gamma = 0.0256  # stylegan2-ada's 0.0002 * 64^2 / 32
        del c.evals["sample_quality"]  # gendl's classifier covers MNIST and Fashion-MNIST

    variants = {
        "smoke": smoke,
        "diffaug": diffaug,
        "ada": ada,
        "cond": cond,
        "data20": data20,
        "data10": data10,
        "fashion_mnist": fashion_mnist,
        "emoji": emoji,
    }
    return config_lib.apply_variant(c, arg, variants)
