"""What an objective is, and the one way a network's parameters are updated.

An objective owns a model family's losses and its update rule (e.g. 5 critic steps then one
generator step). The trainer owns everything else: compilation, sharding, randomness per
step, data, checkpoints and logging. An objective's methods are pure functions of their
arguments, so the trainer can `jax.jit` them over a device mesh.
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
        """Returns {network name: params}."""
        raise NotImplementedError

    def update(self, params, opt_state, optimizers, batch, rng, step):
        """One train step: returns (params, opt_state, metrics dict of scalars).

        `rng` is this step's key (derived from seed and step); `step` the int32 step count
        before this update, for schedules such as a KL warm-up."""
        raise NotImplementedError

    def sample(self, params, noise):
        """Images in [0, 1], shape [n, *image_shape], from `noise` = self.sample_noise(...)."""
        raise NotImplementedError

    def sample_noise(self, rng, n):
        raise NotImplementedError


def apply_gradients(tx: optax.GradientTransformation, params, opt_state, grads, name: str):
    """Applies one optimiser step and reports the norms a practitioner watches."""
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    metrics = {
        f"grad_norm/{name}": optax.global_norm(grads),
        f"param_norm/{name}": optax.global_norm(params),
    }
    return params, opt_state, metrics


def init_networks(networks: dict, rng, example_inputs: dict) -> dict:
    """Initialises each network on its example input with its own key."""
    keys = jax.random.split(rng, len(networks))
    return {
        name: networks[name].init(key, *example_inputs[name])["params"]
        for key, name in zip(keys, sorted(networks), strict=True)
    }
