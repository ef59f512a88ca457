"""Builds everything a run needs from a config: data, networks, objective, the compiled
train step. `gendl.main` and `gendl.bench` both use it, so the benchmark times the very
step that training runs."""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from gendl import config as config_lib
from gendl import models, objectives
from gendl.data import pipeline, transforms
from gendl.objectives import base
from gendl.parallel import mesh as mesh_lib
from gendl.training import state as state_lib

# Independent streams derived from the seed: initialisation, train steps, sample noise.
_INIT, _TRAIN, _SAMPLES, _DATA = 0, 1, 2, 3


@dataclasses.dataclass
class Experiment:
    config: object
    mesh: object
    objective: object
    optimizers: dict
    batches: pipeline.Batches
    # phase -> jitted (state, frozen, batch) -> (state, metrics vector); donates state.
    # Built on first use of the phase (see `jitted_step`).
    make_step: object
    # (phase, k) -> jitted (state, frozen, k stacked batches) -> (state, [k, metrics]): k train
    # steps in one call (config.steps_per_call), see `jitted_steps`.
    make_steps: object
    sample: object  # jitted (variables, noise) -> images in [0, 1]
    # The TrainState's shardings on the mesh (gendl.parallel.mesh.state_shardings).
    state_sharding: object = None
    # {network: params} of the objective's frozen networks, replicated on the mesh.
    frozen: dict = dataclasses.field(default_factory=dict)
    # Per phase: the names of its metrics vector's entries, filled when its step is traced.
    phase_metric_names: dict = dataclasses.field(default_factory=dict)
    # {phase: global batch size} for phases that train on fewer than config.batch_size
    # examples per batch (config.phase_batch_sizes; ProGAN's larger resolutions).
    phase_batch_sizes: dict = dataclasses.field(default_factory=dict)
    _steps: dict = dataclasses.field(default_factory=dict)
    _last_phase: str = ""

    @property
    def ema_decay(self):
        """A float (0: no EMA) or a function of the step (config.ema.half_life_images)."""
        return state_lib.ema_decay(self.config.get("ema"), self.config.batch_size)

    @property
    def batches_per_step(self) -> int:
        return self.objective.batches_per_step

    @property
    def steps_per_call(self) -> int:
        """Train steps the loop runs per compiled call where no log, checkpoint, sample,
        evaluation or phase change falls between them (config.steps_per_call; default 1)."""
        return int(self.config.get("steps_per_call", 1))

    def key(self, stream: int):
        return jax.random.fold_in(jax.random.key(self.config.seed), stream)

    def phase(self, step: int) -> str:
        """The phase of train step `step`, checked against the objective's phases."""
        phase = self.objective.phase(int(step))
        if phase not in self.objective.phases():
            raise ValueError(
                f"{type(self.objective).__name__}.phase({step}) returned {phase!r}, not one "
                f"of its phases {self.objective.phases()}."
            )
        return phase

    def jitted_step(self, phase: str):
        """The compiled train step of `phase`: (state, frozen, batch) -> (state, metrics)."""
        if phase not in self._steps:
            self._steps[phase] = self.make_step(phase)
        return self._steps[phase]

    def jitted_steps(self, phase: str, k: int):
        """k train steps of `phase` in one compiled call: (state, frozen,
        `stacked_batches(step, k)`) -> (state, metrics [k, names]); the same steps, bit for
        bit, as k calls of `jitted_step`."""
        if (phase, k) not in self._steps:
            self._steps[phase, k] = self.make_steps(phase, k)
        return self._steps[phase, k]

    def train_step(self, state, batch, step: int | None = None):
        """Runs train step `step` (default: read from the state, a device sync) in its
        phase; returns (state, metrics vector) named by `metric_names_of(phase)`."""
        phase = self.phase(int(state.step) if step is None else step)
        out = self.jitted_step(phase)(state, self.frozen, batch)
        self._last_phase = phase
        return out

    def metric_names_of(self, phase: str) -> list:
        return self.phase_metric_names[phase]

    @property
    def metric_names(self) -> list:
        """The metric names of the most recent `train_step`'s phase."""
        return self.phase_metric_names[self._last_phase]

    def init_state(self) -> state_lib.TrainState:
        init = jax.jit(
            lambda: state_lib.init_state(
                self.objective, self.optimizers, self.key(_INIT), self.ema_decay
            ),
            out_shardings=self.state_sharding,
        )
        return init()

    def abstract_state(self):
        """Shapes, dtypes and shardings of the state, without computing it (for restore)."""
        shapes = jax.eval_shape(
            lambda: state_lib.init_state(
                self.objective, self.optimizers, self.key(_INIT), self.ema_decay
            )
        )
        return jax.tree.map(
            lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
            shapes,
            self.state_sharding,
        )

    def batches_before(self, step: int) -> int:
        """The data position at train step `step`: real batches consumed before it."""
        return self.objective.batches_before(step)

    def batch(self, step: int) -> dict:
        """The global batch of train step `step`, as arrays on the mesh."""
        n, first = self.objective.batches_at(step), self.batches_before(step)
        local = self._phase_batch(self.batches.get(first, count=n), step, batch_dim=1)
        return mesh_lib.global_batch(local, mesh_lib.batch_sharding(self.mesh, batch_dim=1))

    def stacked_batches(self, step: int, k: int) -> dict:
        """The global batches of train steps step .. step+k-1 stacked on a leading axis of k,
        as `jitted_steps` takes them: one read and one transfer for the k steps (all of one
        phase: the loop never runs a call across a phase change)."""
        n = self.objective.batches_at(step)
        local = self.batches.get(self.batches_before(step), count=k * n)
        local = {name: x.reshape(k, n, *x.shape[1:]) for name, x in local.items()}
        local = self._phase_batch(local, step, batch_dim=2)
        return mesh_lib.global_batch(local, mesh_lib.batch_sharding(self.mesh, batch_dim=2))

    def _phase_batch(self, local: dict, step: int, batch_dim: int) -> dict:
        """The first config.phase_batch_sizes[phase] examples of each batch (this host's
        share of them) where the phase of `step` has a smaller batch; else `local` as it is.

        The data position stays one full batch (config.batch_size) per batch number, so the
        batches a step reads, resumes and checkpoints are those of a run without per-phase
        sizes; a smaller phase just uses the front of each (the rest of it goes unused)."""
        if not self.phase_batch_sizes:  # most configs: no phase lookup per step
            return local
        size = self.phase_batch_sizes.get(self.phase(step))
        if not size or size == self.config.batch_size:
            return local
        host = size // jax.process_count()
        index = (slice(None),) * batch_dim + (slice(0, host),)
        return {name: x[index] for name, x in local.items()}

    def sample_noise(self, n: int):
        return self.objective.sample_noise(self.key(_SAMPLES), n)

    def checkpoint_meta(self, step: int) -> dict:
        """What a checkpoint stores besides the state: the data position, for exact resume."""
        return {
            "data": self.batches.sampler.state_dict(self.batches_before(step)),
            # Extra streams (config.data.streams), each with its own sampler; {} when none.
            "streams": self.batches.state_dict(self.batches_before(step)),
            "batches_per_step": self.batches_per_step,
            "config": {"model": self.config.model.name, "objective": self.config.objective.name},
        }


# XLA:CPU options for the train step: the YNNPACK fusion types, config.xla_cpu_ynn_fusion
# (see config.py; "" by default). Measured on the WGAN-GP step (2-core x86, jax 0.10.2,
# interleaved runs): leaving elementwise work out of YNNPACK fusions ran 1.32-1.43 it/s
# against 1.16-1.29 with the default. It changes which kernels run, not the computation.
_YNN_FUSION_OPTION = "xla_cpu_experimental_ynn_fusion_type"


def _compiler_options(mesh, ynn_fusion: str = ""):
    if mesh.devices.flat[0].platform != "cpu":
        return None
    options = {_YNN_FUSION_OPTION: ynn_fusion}
    try:  # experimental options come and go between XLA versions: probe before relying on one
        jax.jit(lambda x: x + 1, compiler_options=options)(0)
    except Exception:  # noqa: BLE001 -- any failure means: compile with XLA's defaults
        return None
    return options


def build(config, mesh=None) -> Experiment:
    fsdp = config.get("parallel", {}).get("fsdp", 1)
    mesh = mesh_lib.make_mesh(fsdp=fsdp) if mesh is None else mesh
    config_lib.validate(config, mesh.size, jax.process_count())
    batches, spec = pipeline.build_train_data(config, jax.process_index(), jax.process_count())
    networks = models.build(config.model, spec)
    objective = objectives.build(config, networks, spec)
    optimizers = state_lib.make_optimizers(config.optimizer, sorted(networks), config.total_steps)
    train_key = jax.random.fold_in(jax.random.key(config.seed), _TRAIN)
    ema_decay = state_lib.ema_decay(config.get("ema"), config.batch_size)

    data_key = jax.random.fold_in(jax.random.key(config.seed), _DATA)
    binarize = config.data.get("binarize", "")
    phase_metric_names = {}

    def train_step(phase, state, frozen, batch):
        key = jax.random.fold_in(data_key, state.step)
        batch = dict(batch)
        if "image" in batch:  # paired data (pix2pix) names its images otherwise: "a", "b"
            batch["image"] = transforms.prepare_images(batch["image"], binarize=binarize, key=key)
        if "labelled_image" in batch:  # a semi-supervised step's labelled batch
            batch["labelled_image"] = transforms.prepare_images(
                batch["labelled_image"], binarize=binarize, key=jax.random.fold_in(key, 1)
            )
        batch.update(transforms.scale_stream_images(batch))  # "b", "<stream>/<image>", ...
        rng = jax.random.fold_in(train_key, state.step)
        ctx = base.StepContext(
            optimizers=state_lib.at_step(optimizers, state.step), phase=phase, frozen=frozen
        )
        with base.loss_scaling(loss_scale):  # float16: see base.value_and_grad
            new, metrics = objective.update(state, ctx, batch, rng)
        decay = ema_decay(state.step) if callable(ema_decay) else ema_decay
        new = state_lib.update_ema(new.replace(step=state.step + 1), decay)
        # One vector instead of a dict of scalars: the host fetches one array per step.
        names = phase_metric_names[phase] = sorted(metrics)
        return new, jnp.stack([jnp.asarray(metrics[k], jnp.float32) for k in names])

    loss_scale = config_lib.loss_scale(config.model)
    rep = mesh_lib.replicated(mesh)
    # Replicated, or split over the fsdp axis (config.parallel.fsdp); one rule for every leaf.
    state_sharding = mesh_lib.state_shardings(
        mesh,
        jax.eval_shape(
            lambda: state_lib.init_state(objective, optimizers, jax.random.key(0), ema_decay)
        ),
    )
    # Pretrained networks the objective uses: loaded once, replicated, never trained or saved.
    frozen = jax.device_put(
        {name: load() for name, load in objective.frozen_networks().items()}, rep
    )
    options = _compiler_options(mesh, config.get("xla_cpu_ynn_fusion", ""))

    def make_step(phase):
        return jax.jit(
            functools.partial(train_step, phase),
            in_shardings=(state_sharding, rep, mesh_lib.batch_sharding(mesh, batch_dim=1)),
            out_shardings=(state_sharding, rep),
            donate_argnums=(0,),
            compiler_options=options,
        )

    def make_steps(phase, k):
        def steps(state, frozen, batches):
            # A loop on the device, so one dispatch and one host round trip serve k steps
            # (the fixed cost that dominates small steps such as the MLP VAE's). The step
            # counter in the state drives the per-step randomness exactly as in single steps.
            return jax.lax.scan(
                lambda s, batch: train_step(phase, s, frozen, batch), state, batches
            )

        return jax.jit(
            steps,
            in_shardings=(state_sharding, rep, mesh_lib.batch_sharding(mesh, batch_dim=2)),
            out_shardings=(state_sharding, rep),
            donate_argnums=(0,),
            compiler_options=options,
        )

    sample_fn = jax.jit(objective.sample, out_shardings=rep)
    phase_batch_sizes = _phase_batch_sizes(config, objective, mesh.size)
    return Experiment(
        config,
        mesh,
        objective,
        optimizers,
        batches,
        make_step,
        make_steps,
        sample_fn,
        state_sharding,
        frozen,
        phase_metric_names,
        phase_batch_sizes,
    )


def _phase_batch_sizes(config, objective, device_count) -> dict:
    """config.phase_batch_sizes checked against the objective's phases and the batch size."""
    sizes = {name: int(v) for name, v in dict(config.get("phase_batch_sizes", {})).items()}
    for phase, size in sorted(sizes.items()):
        if phase not in objective.phases():
            raise config_lib.ConfigError(
                f"config.phase_batch_sizes names the phase {phase!r}, but the objective "
                f"{config.objective.name!r} has the phases {', '.join(objective.phases())}."
            )
        multiple = device_count * jax.process_count() // math.gcd(device_count, jax.process_count())
        if not 0 < size <= config.batch_size or size % multiple:
            raise config_lib.ConfigError(
                f"config.phase_batch_sizes.{phase}={size} must be in [1, config.batch_size="
                f"{config.batch_size}] (the batch read from the data; a phase may only use "
                f"less of it) and a multiple of {multiple} (devices and processes)."
            )
    return sizes
