"""The one explicit training state and the optimisers that update it."""

import flax.struct
import jax
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
    if cfg.name != "adam":
        raise ConfigError(f"Unknown config.optimizer.name={cfg.name!r}. Known: adam.")
    tx = optax.adam(learning_rate(cfg, total_steps), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
    if cfg.grad_clip_norm:
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
    return tx


def make_optimizers(cfg, network_names, total_steps: int = 1) -> dict:
    """One optimiser per network (same hyper-parameters), so e.g. a critic and a generator
    keep separate Adam moments as in the papers."""
    return {name: make_optimizer(cfg, total_steps) for name in network_names}


def split_variables(variables: dict) -> tuple[dict, dict]:
    """{network: flax variables} -> ({network: params}, {network: other collections})."""
    params = {name: v["params"] for name, v in variables.items()}
    model_state = {
        name: rest
        for name, v in variables.items()
        if (rest := {k: c for k, c in v.items() if k != "params"})
    }
    return params, model_state


def init_state(objective, optimizers, rng) -> TrainState:
    params, model_state = split_variables(objective.init(rng))
    opt_state = {name: optimizers[name].init(p) for name, p in params.items()}
    return TrainState(
        step=jax.numpy.zeros((), jax.numpy.int32),
        params=params,
        opt_state=opt_state,
        model_state=model_state,
    )
