"""The one explicit training state and the optimisers that update it."""

import flax.struct
import jax
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
# Fields a network's own section (config.optimizer.<network>) may override.
_FIELDS = (
    "name",
    "learning_rate",
    "b1",
    "b2",
    "eps",
    "decay",
    "schedule",
    "final_learning_rate",
    "grad_clip_norm",
)


def learning_rate(cfg, total_steps: int):
    """A constant rate, or a cosine decay from `learning_rate` to `final_learning_rate` over
    the run (optax counts updates, so a network updated n times a step decays n times as
    fast: schedules are for one-update-per-step objectives such as VAEs)."""
    schedule = cfg.get("schedule", "constant")
    if schedule == "constant":
        return cfg.learning_rate
    if schedule == "cosine":
        alpha = cfg.get("final_learning_rate", 0.0) / cfg.learning_rate
        return optax.cosine_decay_schedule(cfg.learning_rate, max(total_steps, 1), alpha=alpha)
    raise ConfigError(
        f"Unknown config.optimizer.schedule={schedule!r}. Known: 'constant', 'cosine'."
    )


def make_optimizer(cfg, total_steps: int = 1) -> optax.GradientTransformation:
    """adam(learning_rate, b1, b2, eps) or rmsprop(learning_rate, decay, eps), optionally after
    clipping the gradient's global norm (grad_clip_norm > 0)."""
    lr = learning_rate(cfg, total_steps)
    if cfg.name == "adam":
        tx = optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
    elif cfg.name == "rmsprop":
        # PyTorch's RMSprop (the WGAN reference code's optimiser): decay (alpha) 0.99,
        # eps added outside the square root.
        tx = optax.rmsprop(lr, decay=cfg.get("decay", 0.99), eps=cfg.eps)
    else:
        raise ConfigError(f"Unknown optimizer name {cfg.name!r}. Known: {', '.join(_OPTIMIZERS)}.")
    if cfg.get("grad_clip_norm"):
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
    return tx


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


def make_optimizers(cfg, network_names, total_steps: int = 1) -> dict:
    """One optimiser per network, so e.g. a critic and a generator keep separate Adam moments
    as in the papers; `config.optimizer.<network>` overrides the shared settings."""
    known = set(network_names)
    for key, value in cfg.items():
        if isinstance(value, ml_collections.ConfigDict) and key not in known:
            raise ConfigError(
                f"config.optimizer.{key} names no network of this model; networks: "
                f"{', '.join(sorted(known))}."
            )
    return {
        name: make_optimizer(network_optimizer_config(cfg, name), total_steps)
        for name in network_names
    }


def split_variables(variables: dict) -> tuple[dict, dict]:
    """{network: flax variables} -> ({network: params}, {network: other collections})."""
    params = {name: v["params"] for name, v in variables.items()}
    model_state = {
        name: rest
        for name, v in variables.items()
        if (rest := {k: c for k, c in v.items() if k != "params"})
    }
    return params, model_state


def init_state(objective, optimizers, rng, ema_decay: float = 0.0) -> TrainState:
    """The state at step 0; with `ema_decay` > 0, EMAs of the objective's `ema_networks`
    start at the initial parameters."""
    params, model_state = split_variables(objective.init(rng))
    opt_state = {name: optimizers[name].init(p) for name, p in params.items()}
    ema = {}
    if ema_decay:
        ema_networks = tuple(getattr(objective, "ema_networks", ()))
        if not ema_networks:
            raise ConfigError(
                f"config.ema.decay={ema_decay} but objective {type(objective).__name__} names "
                "no network to average (ema_networks): set --config.ema.decay=0."
            )
        ema = {name: params[name] for name in ema_networks}
    return TrainState(
        step=jax.numpy.zeros((), jax.numpy.int32),
        params=params,
        opt_state=opt_state,
        model_state=model_state,
        ema=ema,
    )


def update_ema(state: TrainState, decay: float) -> TrainState:
    """ema <- decay * ema + (1 - decay) * params for every averaged network (after a step)."""
    if not state.ema:
        return state
    ema = {
        name: jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, avg, state.params[name])
        for name, avg in state.ema.items()
    }
    return state.replace(ema=ema)
