"""The config skeleton every gendl config starts from, and its checks.

Config files in `configs/` call `base_config()` and fill in the model, objective and
optimiser. The names here are stable: docs, scripts and checks rely on them
(`seed`, `total_steps`, `batch_size`, `data.name`, `data.manual_dir`).
"""

import os

import ml_collections


class ConfigError(ValueError):
    """A config that cannot run; the message says what to change."""


COMPUTE_DTYPES = ("float32", "bfloat16", "float16")


def loss_scale(model: ml_collections.ConfigDict) -> float:
    """config.model.loss_scale with its default resolved: 1024 for float16, else 1 (none)."""
    scale = model.get("loss_scale", 0.0)
    if scale:
        return float(scale)
    return 1024.0 if model.get("dtype", "float32") == "float16" else 1.0


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    # One step is one call of the compiled train step: for GANs one generator iteration
    # (including its critic steps), for VAEs one gradient step.
    c.total_steps = 10_000
    # Global batch size (all hosts and devices together). Must divide by the device count.
    c.batch_size = 64
    # Train steps per compiled call: k > 1 runs k steps in one device-side loop (one dispatch
    # and one host round trip for k; for small, dispatch-bound steps such as an MLP VAE's),
    # wherever no log, checkpoint, sample grid or evaluation falls between them. Each step is
    # still counted, seeded and logged on its own, so results and resumes are the same.
    c.steps_per_call = 1
    # {phase name: global batch size} for phases of the objective that train on a smaller
    # batch (ProGAN lowers it as the resolution grows). Each step still reads a batch of
    # batch_size from the data and uses its first examples; phases not named use all of it.
    c.phase_batch_sizes = ml_collections.ConfigDict()
    # XLA:CPU: the kinds of operation compiled through YNNPACK in the train step, a
    # comma-separated list of LIBRARY_FUSION_TYPE_{ELTWISE,REDUCE,DOT} ("": none). Which kernels
    # run, not what they compute (float sums may round differently). "" measured fastest on
    # WGAN-GP; Pix2Pix's step, dominated by batch norm and gradient-norm reductions over a
    # 29M-parameter U-Net, ran fastest with "LIBRARY_FUSION_TYPE_REDUCE".
    c.xla_cpu_ynn_fusion = ""

    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.split = "train"
    # Folder holding `<name>/<original files>`; lets gendl prepare the dataset offline.
    # Read when the config is built, so `GENDL_MANUAL_DIR=... python -m gendl.main` works.
    c.data.manual_dir = os.environ.get("GENDL_MANUAL_DIR", "")
    # Classes left out of the training split (one-class anomaly detection trains without them).
    c.data.exclude_labels = ()
    # "" keeps grey levels in [0, 1]; "dynamic" resamples binary pixels every use (the
    # likelihood protocol on MNIST); "threshold" binarises at 0.5.
    c.data.binarize = ""
    # Where TFDS keeps prepared datasets ("" = $TFDS_DATA_DIR or ~/tensorflow_datasets).
    c.data.data_dir = ""
    # Where examples come from (gendl/data/sources): "tfds_prepared" (mnist, fashion_mnist,
    # cifar10 by `name`, in memory), "arrays" (a numpy .npz file at `path`), "folder" (PNG/JPEG
    # files at `path`, flat -> `image`, or one sub-folder per class -> `image` + `label`),
    # "paired_folders" (folders `paths` paired by file name -> one feature per folder, named by
    # `names` or the folders' base names), "labelled_folders" (folders `paths`, one per class:
    # `image` + `label` = the folder's position), "tfds_catalog" (any TFDS dataset `name`; needs
    # `pip install -e '.[tfds]'`). "{manual_dir}" in a path stands for `manual_dir`.
    c.data.source = "tfds_prepared"
    c.data.path = ""
    c.data.paths = ()
    c.data.names = ()
    # Folder sources: names of N images side by side in each file (pix2pix "A|B": ("a", "b")),
    # cut into N features; () = off.
    c.data.side_by_side = ()
    # Folders without train/ and test/ sub-folders: the share of files in "test", chosen by a
    # sha1 hash of each file's name (stable, see gendl/data/sources/folder.py).
    c.data.test_fraction = 0.1
    # (index, count): only every count-th example of the split from the index-th on
    # (gendl/data/sources/partition.py), e.g. (0, 2) and (1, 2) for two disjoint halves that
    # two streams read (CoGAN's domains); () = all.
    c.data.partition = ()
    # Host-side ops on each example's uint8 images, in order (gendl/data/ops.py): "rgb",
    # "grey", "alpha_white", "alpha_black", "alpha:R,G,B", "resize:N", "resize:H,W",
    # "center_crop:N", "random_crop:N", "random_flip", "mutate:P" (P% of pixels replaced by
    # random values). Random ops draw once per example (paired images get the same crop and
    # flip) from (seed, stream, batch number): resumes are exact.
    c.data.ops = ()
    # Extra streams: c.data.streams.<s> = ConfigDict with the fields above (those left out come
    # from c.data) plus optional `split` and `batch_size`; their features reach the objective
    # as "<s>/<feature>" (e.g. "b/image"), each stream with its own length and epochs.
    c.data.streams = ml_collections.ConfigDict()

    c.model = ml_collections.ConfigDict()
    c.model.name = ""
    # Compute dtype of every network ("float32", "bfloat16", "float16"): activations and
    # matmuls/convolutions run in it, while parameters, optimiser states and losses stay
    # float32 (mixed precision). bfloat16 is the fast choice on TPUs and recent GPUs.
    c.model.dtype = "float32"
    # Static loss scale for float16 (0: 1024 with float16, 1 otherwise): losses are multiplied
    # by it before differentiation and gradients divided by it in float32, so small float16
    # gradients do not flush to zero. bfloat16 has float32's range and needs none.
    c.model.loss_scale = 0.0
    c.objective = ml_collections.ConfigDict()
    c.objective.name = ""

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.999
    c.optimizer.eps = 1e-8
    # rmsprop only: False divides by sqrt(v) + eps (PyTorch's RMSprop), True by sqrt(v + eps)
    # (TensorFlow 1's RMSPropOptimizer, whose default eps is 1e-10).
    c.optimizer.eps_in_sqrt = False
    # "constant", "cosine" (decays to final_learning_rate at total_steps), "linear"
    # (constant until the decay_start fraction of the run, then linear to final_learning_rate
    # at total_steps: CycleGAN's) or "exponential" ((learning_rate - final_learning_rate) *
    # decay_rate**step + final_learning_rate, with c.optimizer.decay_rate: MusicVAE's).
    # Schedules count train steps, however many updates a step makes of a network (a WGAN
    # critic's n_critic).
    c.optimizer.schedule = "constant"
    c.optimizer.final_learning_rate = 0.0
    c.optimizer.decay_start = 0.5
    # Linear warm-up from 0 over this many steps, multiplying any schedule; 0: none.
    c.optimizer.warmup_steps = 0
    # Parameter groups by name, each dict(network=..., pattern=<regex searched in the
    # '/'-joined parameter path>, lr_multiplier=1.0, frozen=False): e.g. StyleGAN2's mapping
    # network, dict(network="generator", pattern="^mapping/", lr_multiplier=0.01).
    c.optimizer.groups = ml_collections.ConfigDict()
    # Clip each network's global gradient norm; 0 disables clipping.
    c.optimizer.grad_clip_norm = 0.0
    # L2 weight decay added to the gradient (PyTorch Adam's weight_decay); 0: none.
    c.optimizer.weight_decay = 0.0

    c.parallel = ml_collections.ConfigDict()
    # Devices along the mesh's "fsdp" axis: every state array (params, optimiser states, EMA)
    # is split over this many devices along its largest divisible dimension (FSDP / ZeRO-3
    # style, for models that outgrow one device). 1: plain data parallelism, state replicated.
    # Must divide the device count; the batch is split over all devices either way.
    c.parallel.fsdp = 1

    # Exponential moving average of the parameters of the networks an objective names
    # (`ema_networks`, e.g. a GAN's generator), updated after every train step and used for
    # samples and evaluation. 0 = off; e.g. 0.999.
    c.ema = ml_collections.ConfigDict()
    c.ema.decay = 0.0
    # StyleGAN2's EMA instead (when > 0): a half-life in images (ema_kimg * 1000), ramped up
    # over the start of the run as min(half_life_images, images seen * rampup) (rampup 0:
    # none; StyleGAN2 uses 0.05); decay = 0.5 ** (batch_size / half_life) each step.
    c.ema.half_life_images = 0.0
    c.ema.rampup = 0.0

    # Another run's workdir (or its checkpoints folder): when this workdir has no checkpoint
    # yet, networks with the same names and shapes start from its newest checkpoint (params,
    # model state, EMA); step and optimiser state start fresh. "": from scratch.
    c.init_from = ""

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every_steps = 1000
    c.checkpoint.keep = 3

    c.log = ml_collections.ConfigDict()
    c.log.every_steps = 100  # scalars to metrics.jsonl and TensorBoard
    c.log.progress_every_seconds = 15.0  # console line
    c.log.sample_every_steps = 1000  # sample grid PNG from fixed noise
    c.log.num_samples = 64

    # Evaluators by name: each a ConfigDict with `type` (gendl.evaluation.evaluators.REGISTRY)
    # and `every_steps` (0: only at the end of training), plus its own settings.
    c.evals = ml_collections.ConfigDict()
    return c


def sample_quality(every_steps: int = -1) -> dict:
    """The sample-quality evaluator of the MNIST-family GAN configs: FID/KID/IS/precision/
    recall/classes present (label accuracy when conditional) of 10,000 samples against the
    test split, in gendl's classifier features (built on first need). every_steps -1: only
    from `python -m gendl.evaluate --workdir=W`."""
    return dict(
        type="sample_quality",
        extractor="classifier",
        every_steps=every_steps,
        num_samples=10_000,
        reference_split="test",
    )


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrinks a config to a CPU smoke run of seconds: few steps, frequent outputs."""
    c.total_steps = 20
    c.checkpoint.every_steps = 10
    c.log.every_steps = 5
    c.log.sample_every_steps = 10
    c.log.num_samples = 16
    c.log.progress_every_seconds = 0.0
    for ev in c.evals.values():  # evaluators on a handful of test images, few samples
        ev.num_examples = min(ev.get("num_examples", 64), 64)
        if "num_samples" in ev:
            ev.num_samples = min(ev.num_samples, 16)
            ev.chunk_size = min(ev.get("chunk_size", 16), 16)
        if "batch_size" in ev:
            ev.batch_size = min(ev.batch_size, 32)
    return c


def apply_variant(c: ml_collections.ConfigDict, arg: str | None, variants: dict):
    """Applies `configs/x.py:variant` (comma-separated names) to a config."""
    for name in filter(None, (arg or "").split(",")):
        if name not in variants:
            raise ConfigError(
                f"Unknown config variant {name!r}. This config has: {', '.join(sorted(variants))}. "
                "Pass it as --config=configs/<file>.py:<variant>."
            )
        variants[name](c)
    return c


def validate(c: ml_collections.ConfigDict, device_count: int, process_count: int) -> None:
    """Checks what would otherwise fail deep inside the trainer with an obscure error."""
    if c.total_steps < 1:
        raise ConfigError(f"config.total_steps must be >= 1, got {c.total_steps}.")
    if c.batch_size < 1 or c.batch_size % device_count:
        suggestion = max(device_count, c.batch_size // device_count * device_count)
        raise ConfigError(
            f"config.batch_size={c.batch_size} must be a positive multiple of the number of "
            f"devices ({device_count}) so every device gets the same share of the batch. "
            f"Pass e.g. --config.batch_size={suggestion}."
        )
    if c.get("steps_per_call", 1) < 1:
        raise ConfigError(
            f"config.steps_per_call must be >= 1 (1: one train step per compiled call), got "
            f"{c.steps_per_call}."
        )
    if c.batch_size % process_count:
        raise ConfigError(
            f"config.batch_size={c.batch_size} must divide by the number of processes "
            f"({process_count})."
        )
    fsdp = c.get("parallel", {}).get("fsdp", 1)
    if fsdp < 1 or device_count % fsdp:
        raise ConfigError(
            f"config.parallel.fsdp={fsdp} must be a positive divisor of the number of devices "
            f"({device_count}): the mesh is (data={device_count}/fsdp, fsdp). Pass e.g. "
            "--config.parallel.fsdp=1 (replicated state)."
        )
    dtype = c.model.get("dtype", "float32")
    if dtype not in COMPUTE_DTYPES:
        raise ConfigError(
            f"config.model.dtype={dtype!r}; use one of {', '.join(COMPUTE_DTYPES)} (the compute "
            "dtype; parameters always stay float32)."
        )
    if c.model.get("loss_scale", 0.0) < 0:
        raise ConfigError(f"config.model.loss_scale must be >= 0, got {c.model.loss_scale}.")
    from gendl.data.transforms import BINARIZE_MODES

    if c.data.binarize not in BINARIZE_MODES:
        raise ConfigError(f"config.data.binarize={c.data.binarize!r}; use one of {BINARIZE_MODES}.")
    if "ema" in c and not 0.0 <= c.ema.decay < 1.0:
        raise ConfigError(f"config.ema.decay must be in [0, 1) (0 = off), got {c.ema.decay}.")
    _validate_ema_schedule(c.get("ema"))
    for key in ("every_steps", "keep"):
        if c.checkpoint[key] < 1:
            raise ConfigError(f"config.checkpoint.{key} must be >= 1, got {c.checkpoint[key]}.")
    for key in ("every_steps", "sample_every_steps"):
        if c.log[key] < 1:
            raise ConfigError(f"config.log.{key} must be >= 1, got {c.log[key]}.")


def _validate_ema_schedule(ema) -> None:
    if ema is None:
        return
    half_life, rampup = ema.get("half_life_images", 0.0), ema.get("rampup", 0.0)
    if half_life < 0 or rampup < 0:
        raise ConfigError(
            f"config.ema.half_life_images ({half_life}) and config.ema.rampup ({rampup}) must "
            "be >= 0 (0 = off)."
        )
    if half_life and ema.decay:
        raise ConfigError(
            f"config.ema.decay={ema.decay} and config.ema.half_life_images={half_life} both "
            "set the EMA's decay: set one of them to 0."
        )


def sibling_module(config_file: str, name: str):
    """Another config file of the same configs/ folder as a module, so a variant config
    (e.g. beta_vae.py) starts from its base (vae.py) wherever it is run from."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(config_file)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"gendl_configs_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sibling_config(config_file: str, name: str, arg: str | None = None):
    """`get_config(arg)` of another file in the same configs/ folder."""
    return sibling_module(config_file, name).get_config(arg)
