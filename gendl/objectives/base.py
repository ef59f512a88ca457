"""What an objective is, and the one way a network's parameters are updated.

An objective owns a model family's losses and its update rule (e.g. 5 critic steps then one
generator step). The trainer owns everything else: compilation, sharding, randomness per
step, the step counter, EMA, data, checkpoints and logging. An objective's methods are pure
functions of their arguments, so the trainer can `jax.jit` them over a device mesh.

Two views of the networks' weights:
  - training: `state.params` ({network: params}), `state.model_state` ({network: non-param
    collections such as batch_stats}) and `state.opt_state`, updated by `update`;
  - inference: `variables` = {network: flax variables dict}, from `state.variables()` (EMA
    parameters where present). `sample` and every method evaluators call take `variables`.
"""

import jax
import optax


class Objective:
    """Base class; subclasses set `networks` and implement `init`, `update`, `sample`."""

    # Real batches one train step consumes (a WGAN-GP step uses one per critic step).
    batches_per_step = 1

    def __init__(self, config, networks: dict, image_shape: tuple):
        self.config = config
        self.networks = networks
        self.image_shape = tuple(image_shape)

    def init(self, rng) -> dict:
        """Returns {network name: flax variables} ({"params": ..., maybe "batch_stats": ...})."""
        raise NotImplementedError

    def update(self, state, optimizers, batch, rng):
        """One train step: returns (state, metrics dict of scalars).

        `state` is the `TrainState` before the step (`state.step` counts steps done, for
        schedules such as a KL warm-up); return it with new params, opt_state and
        model_state. The trainer advances `step` and the EMA. `rng` is this step's key
        (derived from seed and step)."""
        raise NotImplementedError

    def sample(self, variables, noise):
        """Images in [0, 1], shape [n, *image_shape], from `noise` = self.sample_noise(...)."""
        raise NotImplementedError

    def sample_noise(self, rng, n):
        raise NotImplementedError


def value_and_grad(fun, argnums=0, has_aux=False):
    """`jax.value_and_grad`, the one place objectives take gradients, so that numerics
    policies that wrap every backward pass (loss scaling for float16) apply to all."""
    return jax.value_and_grad(fun, argnums=argnums, has_aux=has_aux)


def grad(fun, argnums=0, has_aux=False):
    """Gradients only, through `value_and_grad`."""
    vg = value_and_grad(fun, argnums=argnums, has_aux=has_aux)

    def g(*args, **kwargs):
        out, grads = vg(*args, **kwargs)
        return (grads, out[1]) if has_aux else grads

    return g


def apply_gradients(tx: optax.GradientTransformation, params, opt_state, grads, name: str):
    """Applies one optimiser step and reports the norms a practitioner watches."""
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    metrics = {
        f"grad_norm/{name}": optax.global_norm(grads),
        f"param_norm/{name}": optax.global_norm(params),
    }
    return params, opt_state, metrics


def init_networks(networks: dict, rng, example_inputs: dict, **kwargs) -> dict:
    """Initialises each network on its example input with its own key; returns
    {network name: flax variables}."""
    keys = jax.random.split(rng, len(networks))
    return {
        name: dict(networks[name].init(key, *example_inputs[name], **kwargs))
        for key, name in zip(keys, sorted(networks), strict=True)
    }
