"""The one explicit training state and the optimisers that update it."""

import math
import re

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gendl.config import ConfigError


@flax.struct.dataclass
class TrainState:
    """Everything that changes during training. Randomness is derived from (seed, step),
    and the data position from step, so this plus the config is an exact resume point."""

    step: jax.Array  # int32 scalar: train steps done
    params: dict  # {network name: params}
    opt_state: dict  # {network name: optax state}
    # {network name: {collection: tree}}: what a network carries that is not trained by
    # gradients (batch-norm statistics, spectral-norm power-iteration vectors). Networks
    # without such state have no entry.
    model_state: dict = flax.struct.field(default_factory=dict)
    # {network name: params}: exponential moving averages of some networks' parameters
    # (e.g. a GAN generator's); empty when EMA is off.
    ema: dict = flax.struct.field(default_factory=dict)
    # The objective's own state (`Objective.init_objective_state`); `{}` for most, which
    # leaves no trace in a checkpoint, so runs from before this field restore unchanged.
    objective_state: dict = flax.struct.field(default_factory=dict)

    def variables(self, use_ema: bool = True) -> dict:
        """{network name: flax variables} for inference (samples, evaluation): the EMA
        parameters where they exist, plus the network's non-parameter state."""
        return {
            name: {
                "params": self.ema[name] if use_ema and name in self.ema else p,
                **self.model_state.get(name, {}),
            }
            for name, p in self.params.items()
        }


_OPTIMIZERS = ("adam", "rmsprop")
_SCHEDULES = ("constant", "cosine", "linear", "exponential", "burda")
# Fields a network's own section (config.optimizer.<network>) may override.
_FIELDS = (
    "name",
    "learning_rate",
    "b1",
    "b2",
    "eps",
    "decay",
    "eps_in_sqrt",
    "schedule",
    "final_learning_rate",
    "decay_start",
    "decay_rate",
    "warmup_steps",
    "stage_steps",
    "grad_clip_norm",
    "weight_decay",
)
# config.optimizer.groups.<group>: what a parameter group may set.
_GROUP_FIELDS = ("network", "pattern", "lr_multiplier", "frozen")


def learning_rate(cfg, total_steps: int):
    """The learning rate: a float when constant, else a function of the train step (steps
    done before the update; see `at_step`).

    schedule "constant"; "cosine" from `learning_rate` to `final_learning_rate` over the
    run; "linear": constant until the `decay_start` fraction of the run, then linear to
    `final_learning_rate` at total_steps (CycleGAN's); "exponential" towards
    `final_learning_rate` by `decay_rate` per step (MusicVAE's); "burda": Burda et al. 2015's
    stages, learning_rate * 10^(-i/7) for 3^i * `stage_steps` steps, i = 0..7, then the last
    rate (`stage_steps` = one epoch gives the paper's 3^i passes). `warmup_steps` > 0
    multiplies any of them by min(step / warmup_steps, 1), a linear warm-up from 0.
    """
    schedule = cfg.get("schedule", "constant")
    lr = cfg.learning_rate
    if schedule == "constant":
        base = None
    elif schedule == "cosine":
        alpha = cfg.get("final_learning_rate", 0.0) / lr
        base = optax.cosine_decay_schedule(lr, max(total_steps, 1), alpha=alpha)
    elif schedule == "linear":
        fraction = cfg.get("decay_start", 0.5)
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(
                f"config.optimizer.decay_start={fraction} must be a fraction of the run in "
                "[0, 1] (0.5: decay over the second half)."
            )
        start = int(round(fraction * total_steps))
        base = optax.linear_schedule(
            lr, cfg.get("final_learning_rate", 0.0), max(total_steps - start, 1), start
        )
    elif schedule == "exponential":
        base = _exponential(lr, cfg.get("final_learning_rate", 0.0), cfg.get("decay_rate", 1.0))
    elif schedule == "burda":
        base = _burda_stages(lr, cfg.get("stage_steps", 0))
    else:
        raise ConfigError(
            f"Unknown config.optimizer.schedule={schedule!r}. Known: {', '.join(_SCHEDULES)}."
        )
    warmup = cfg.get("warmup_steps", 0)
    if warmup < 0:
        raise ConfigError(f"config.optimizer.warmup_steps must be >= 0, got {warmup}.")
    if not warmup:
        return lr if base is None else base

    def warmed_up(step):
        ramp = jnp.minimum(jnp.asarray(step, jnp.float32) / warmup, 1.0)
        return (lr if base is None else base(step)) * ramp

    return warmed_up


def _burda_stages(lr, stage_steps):
    if stage_steps < 1:
        raise ConfigError(
            f"config.optimizer.stage_steps={stage_steps}: the burda schedule needs the steps of "
            "its first stage (one epoch: 60,000 // batch_size for MNIST), a positive integer."
        )
    # Stage i ends after stage_steps * (3^0 + ... + 3^i) = stage_steps * (3^(i+1) - 1) / 2.
    ends = {stage_steps * (3 ** (i + 1) - 1) // 2: 10 ** (-1 / 7) for i in range(7)}
    return optax.piecewise_constant_schedule(lr, ends)


def _exponential(lr, final, rate):
    if not 0.0 < rate <= 1.0:
        raise ConfigError(
            f"config.optimizer.decay_rate={rate} must be in (0, 1] for the exponential schedule "
            "(the factor the learning rate's distance to final_learning_rate shrinks by per "
            "step; magenta's MusicVAE: 0.9999)."
        )

    log_rate = math.log(rate)  # in float64: float32's rate ** step drifts by 1e-4 at 10k steps

    def schedule(step):
        return (lr - final) * jnp.exp(jnp.asarray(step, jnp.float32) * log_rate) + final

    return schedule


def _scale_by_step_schedule(schedule) -> optax.GradientTransformationExtraArgs:
    """optax's scale_by_learning_rate(schedule) read at the train step (the extra argument
    `step`, see `at_step`) instead of at optax's update count, which runs n times as fast
    for a network updated n times a step (a WGAN critic). It keeps optax's state (the
    update count), so checkpoints of runs from before have the same layout."""

    def init(params):
        del params
        return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, *, step=None, **extra_args):
        del params, extra_args
        if step is None:
            raise ValueError("A scheduled learning rate needs the train step: use at_step().")
        step_size = -1 * schedule(step)
        updates = jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
        return updates, optax.ScaleByScheduleState(count=optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init, update)


def _with_learning_rate(cfg, lr) -> optax.GradientTransformation:
    """adam(lr, b1, b2, eps) or rmsprop(lr, decay, eps); `lr` a float or a step schedule."""
    if cfg.name not in _OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer name {cfg.name!r}. Known: {', '.join(_OPTIMIZERS)}.")
    # PyTorch's RMSprop (the WGAN reference code's optimiser): decay (alpha) 0.99 and
    # g / (sqrt(v) + eps). optax's default puts eps inside the root, g / sqrt(v + eps), as
    # TensorFlow 1 did: with eps 1e-8 that floors the denominator at 1e-4, above the RMS of
    # half a clipped WGAN's generator gradients, whose steps it shrank.
    decay = cfg.get("decay", 0.99)
    in_sqrt = bool(cfg.get("eps_in_sqrt", False))
    if not callable(lr):
        if cfg.name == "adam":
            return optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
        return optax.rmsprop(lr, decay=decay, eps=cfg.eps, eps_in_sqrt=in_sqrt)
    # The same chains as optax.adam / optax.rmsprop, with the step-read learning rate.
    if cfg.name == "adam":
        return optax.chain(
            optax.scale_by_adam(b1=cfg.b1, b2=cfg.b2, eps=cfg.eps), _scale_by_step_schedule(lr)
        )
    return optax.chain(
        optax.scale_by_rms(decay=decay, eps=cfg.eps, initial_scale=0.0, eps_in_sqrt=in_sqrt),
        _scale_by_step_schedule(lr),
        optax.identity(),
    )


def make_optimizer(cfg, total_steps: int = 1, groups=None) -> optax.GradientTransformation:
    """adam(learning_rate, b1, b2, eps) or rmsprop(learning_rate, decay, eps), optionally after
    clipping the gradient's global norm (grad_clip_norm > 0) and adding weight_decay * params
    to it (weight_decay > 0); `groups` ({group: settings},
    see `make_optimizers`) scale or freeze parts of the network."""
    tx = _with_learning_rate(cfg, learning_rate(cfg, total_steps))
    if groups:
        tx = _grouped(tx, groups)
    if cfg.get("weight_decay"):
        # L2 regularisation as PyTorch's Adam(weight_decay=w) does it: w * params added to
        # the gradient before the adaptive scaling (not AdamW's decoupled decay).
        tx = optax.chain(optax.add_decayed_weights(cfg.weight_decay), tx)
    if cfg.get("grad_clip_norm"):
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
    return tx


def _grouped(tx, groups: dict) -> optax.GradientTransformation:
    """`tx` per parameter, its updates scaled by the group's lr_multiplier (after the
    learning rate, so the update is exactly that multiple of the plain one), or zero for a
    frozen group. A parameter belongs to the group whose pattern `re.search`es its
    '/'-joined path; others to none (plain `tx`)."""
    transforms = {"": tx}
    for name, g in groups.items():
        if g.get("frozen", False):
            transforms[name] = optax.set_to_zero()
        else:
            transforms[name] = optax.chain(tx, optax.scale(float(g.get("lr_multiplier", 1.0))))
    return optax.partition(transforms, lambda params: _group_labels(params, groups))


def _param_path(path) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def _group_labels(params, groups: dict):
    """{param path: group name or ""}; a pattern matching nothing, or a parameter matched by
    two groups, is a ConfigError (the groups would not do what they say)."""
    used = set()

    def label(path, _):
        name = _param_path(path)
        hits = [g for g, cfg in groups.items() if re.search(cfg["pattern"], name)]
        if len(hits) > 1:
            raise ConfigError(
                f"Parameter {name} matches the patterns of config.optimizer.groups "
                f"{' and '.join(hits)}; make the patterns exclusive."
            )
        used.update(hits)
        return hits[0] if hits else ""

    labels = jax.tree_util.tree_map_with_path(label, params)
    unused = sorted(set(groups) - used)
    if unused:
        paths = [_param_path(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        raise ConfigError(
            f"config.optimizer.groups {', '.join(unused)}: the pattern matches no parameter of "
            f"its network, whose parameters are {', '.join(paths[:8])}"
            f"{' ...' if len(paths) > 8 else ''}. Fix the regular expression."
        )
    return labels


def network_optimizer_config(cfg, name: str) -> dict:
    """config.optimizer with the overrides of its section for network `name`, if any, e.g.
    `config.optimizer.critic = dict(name="rmsprop", learning_rate=5e-5)` (papers often give
    the discriminator its own learning rate or optimiser)."""
    merged = {k: cfg[k] for k in _FIELDS if k in cfg}
    own = cfg.get(name)
    if own is not None:
        unknown = sorted(set(own) - set(_FIELDS))
        if unknown:
            raise ConfigError(
                f"config.optimizer.{name} has unknown fields {unknown}; a network's section "
                f"may set {', '.join(_FIELDS)}."
            )
        merged.update(own)
    return ml_collections.ConfigDict(merged)


def parameter_groups(cfg, network_names) -> dict:
    """config.optimizer.groups checked, as {network: {group: settings}}."""
    by_network = {}
    for group, g in (cfg.get("groups") or {}).items():
        unknown = sorted(set(g) - set(_GROUP_FIELDS))
        if unknown or not g.get("pattern") or g.get("network") not in network_names:
            raise ConfigError(
                f"config.optimizer.groups.{group} must set network (one of "
                f"{', '.join(sorted(network_names))}) and pattern (a regular expression on "
                f"the '/'-joined parameter path), and may set lr_multiplier and frozen; got "
                f"{dict(g)}."
            )
        try:
            re.compile(g["pattern"])
        except re.error as e:
            raise ConfigError(
                f"config.optimizer.groups.{group}.pattern={g['pattern']!r} is not a regular "
                f"expression: {e}."
            ) from e
        by_network.setdefault(g["network"], {})[group] = dict(g)
    return by_network


def make_optimizers(cfg, network_names, total_steps: int = 1) -> dict:
    """One optimiser per network, so e.g. a critic and a generator keep separate Adam moments
    as in the papers; `config.optimizer.<network>` overrides the shared settings, and
    `config.optimizer.groups` scale or freeze parts of a network (e.g. StyleGAN2's mapping
    network at 0.01 x the learning rate)."""
    known = set(network_names)
    for key, value in cfg.items():
        if isinstance(value, ml_collections.ConfigDict) and key not in known | {"groups"}:
            raise ConfigError(
                f"config.optimizer.{key} names no network of this model; networks: "
                f"{', '.join(sorted(known))}."
            )
    groups = parameter_groups(cfg, known)
    return {
        name: make_optimizer(network_optimizer_config(cfg, name), total_steps, groups.get(name))
        for name in network_names
    }


def at_step(optimizers: dict, step) -> dict:
    """The optimisers with their learning-rate schedules read at train step `step` (a traced
    scalar), as the train step hands them to the objective (`StepContext.optimizers`)."""
    return {name: _bind_step(tx, step) for name, tx in optimizers.items()}


def _bind_step(tx, step) -> optax.GradientTransformation:
    tx = optax.with_extra_args_support(tx)
    return optax.GradientTransformation(
        tx.init, lambda updates, state, params=None: tx.update(updates, state, params, step=step)
    )


def split_variables(variables: dict) -> tuple[dict, dict]:
    """{network: flax variables} -> ({network: params}, {network: other collections})."""
    params = {name: v["params"] for name, v in variables.items()}
    model_state = {
        name: rest
        for name, v in variables.items()
        if (rest := {k: c for k, c in v.items() if k != "params"})
    }
    return params, model_state


def init_state(objective, optimizers, rng, ema_decay=0.0) -> TrainState:
    """The state at step 0; with EMA on (`ema_decay` a rate > 0 or a schedule, see
    `ema_decay`), EMAs of the objective's `ema_networks` start at the initial parameters.
    The objective's own state comes from an independent key, so adding it leaves the
    networks' initialisation as it was."""
    params, model_state = split_variables(objective.init(rng))
    opt_state = {name: optimizers[name].init(p) for name, p in params.items()}
    ema = {}
    if ema_decay:
        ema_networks = tuple(getattr(objective, "ema_networks", ()))
        if not ema_networks:
            raise ConfigError(
                f"config.ema is on ({_describe_ema(ema_decay)}) but objective "
                f"{type(objective).__name__} names no network to average (ema_networks): set "
                "--config.ema.decay=0 and --config.ema.half_life_images=0."
            )
        ema = {name: params[name] for name in ema_networks}
    return TrainState(
        step=jax.numpy.zeros((), jax.numpy.int32),
        params=params,
        opt_state=opt_state,
        model_state=model_state,
        ema=ema,
        objective_state=objective.init_objective_state(jax.random.fold_in(rng, 1)),
    )


def _describe_ema(ema_decay) -> str:
    return "a half-life schedule" if callable(ema_decay) else f"decay={ema_decay}"


def ema_decay(ema_config, batch_size: int):
    """config.ema as the decay of a train step: a constant (`decay`, 0 = off), or with
    `half_life_images` > 0 StyleGAN2's schedule, a function of the step (steps done):

        nimg = step * batch_size
        half_life = min(half_life_images, nimg * rampup)   (rampup > 0; else half_life_images)
        decay = 0.5 ** (batch_size / max(half_life, 1e-8))

    so early on (small nimg) the average follows the parameters closely."""
    if ema_config is None:  # configs saved before config.ema existed have no EMA
        return 0.0
    half_life = float(ema_config.get("half_life_images", 0.0))
    if not half_life:
        return float(ema_config.decay)
    rampup = float(ema_config.get("rampup", 0.0))

    def decay(step):
        nimg = jnp.asarray(step, jnp.float32) * batch_size
        h = jnp.minimum(half_life, nimg * rampup) if rampup else jnp.float32(half_life)
        return 0.5 ** (batch_size / jnp.maximum(h, 1e-8))

    return decay


def update_ema(state: TrainState, decay) -> TrainState:
    """ema <- decay * ema + (1 - decay) * params for every averaged network (after a step);
    `decay` a float or a traced scalar (a scheduled decay, see `ema_decay`)."""
    if not state.ema:
        return state
    ema = {
        name: jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, avg, state.params[name])
        for name, avg in state.ema.items()
    }
    return state.replace(ema=ema)
