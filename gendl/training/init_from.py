"""Networks taken from another run: `config.init_from` (start from its trained networks) and
loaders for an objective's frozen networks (`Objective.frozen_networks`).

The other run's checkpoint is read as a plain tree from its own metadata
(`checkpointing.read_tree`), so neither its objective nor its config is needed: a VAE's
decoder can start a GAN's generator if the names and shapes agree.
"""

import os

import jax
import numpy as np
from flax import traverse_util

from gendl import checkpointing
from gendl.config import ConfigError


def checkpoints_dir(path: str) -> str:
    """A run's workdir or its checkpoints folder -> the checkpoints folder."""
    inner = os.path.join(path, "checkpoints")
    return inner if os.path.isdir(inner) else path


def read_run(path: str, what: str) -> tuple[dict, int]:
    """(the newest checkpoint's state tree, its step) of the run at `path`; `what` names
    the setting in errors (e.g. "config.init_from")."""
    directory = checkpoints_dir(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(
            f"{what}={path!r} is not a directory. Pass the workdir of a finished or running "
            "run (or its checkpoints folder)."
        )
    try:
        return checkpointing.read_tree(directory)
    except checkpointing.CheckpointError as e:
        raise ConfigError(f"{what}={path!r}: {e}") from None


def network_params(path: str, network: str) -> dict:
    """The params of `network` in the newest checkpoint of the run at `path` (host arrays),
    e.g. a loader for `Objective.frozen_networks`:
    `{"features": lambda: init_from.network_params(run_dir, "classifier")}`."""
    tree, step = read_run(path, "a frozen network's run")
    params = tree.get("params", {})
    if network not in params:
        raise ConfigError(
            f"The run at {path!r} (step {step}) has no network {network!r}; it has "
            f"{', '.join(sorted(params)) or 'none'}."
        )
    return params[network]


def initialise(state, path: str, state_sharding):
    """`state` (a fresh TrainState) with params, model_state and EMA of every network that
    the run at `path` also has copied from its newest checkpoint; step and optimiser state
    stay fresh. Returns (state on the mesh, copied network names, source step)."""
    tree, step = read_run(path, "config.init_from")
    theirs = tree.get("params", {})
    shared = sorted(set(state.params) & set(theirs))
    if not shared:
        raise ConfigError(
            f"config.init_from={path!r}: its networks ({', '.join(sorted(theirs)) or 'none'}) "
            f"share no name with this model's ({', '.join(sorted(state.params))}). Start from "
            "a run of a model with the same network names, or drop config.init_from."
        )
    problems = []
    params = dict(state.params)
    model_state = dict(state.model_state)
    ema = dict(state.ema)
    for name in shared:
        params[name] = _copy(state.params[name], theirs[name], f"params/{name}", problems)
        if name in model_state and name in tree.get("model_state", {}):
            their_state = tree["model_state"][name]
            model_state[name] = _copy(model_state[name], their_state, name, problems)
        if name in ema:  # their average, else (no EMA there) the copied parameters
            their_ema = tree.get("ema", {}).get(name, theirs[name])
            ema[name] = _copy(ema[name], their_ema, f"ema/{name}", problems)
    if problems:
        raise ConfigError(
            f"config.init_from={path!r}: the networks {', '.join(shared)} do not match this "
            f"model: {'; '.join(problems[:4])}{' ...' if len(problems) > 4 else ''}. Use the "
            "same model settings as that run, or drop config.init_from."
        )
    new = state.replace(params=params, model_state=model_state, ema=ema)
    return jax.device_put(new, state_sharding), shared, step


def _copy(ours, theirs, where: str, problems: list):
    """`theirs` in the structure of `ours`, or `ours` with the differences added to
    `problems` (a missing or extra entry, a shape or dtype)."""
    mine = traverse_util.flatten_dict(ours, sep="/")
    other = traverse_util.flatten_dict(theirs, sep="/")
    for key in sorted(set(mine) ^ set(other)):
        side = "this model" if key in mine else "that run"
        problems.append(f"{where}/{key} is only in {side}")
    for key in sorted(set(mine) & set(other)):
        a, b = mine[key], np.asarray(other[key])
        if tuple(a.shape) != b.shape or np.dtype(a.dtype) != b.dtype:
            problems.append(
                f"{where}/{key} is {tuple(a.shape)} {np.dtype(a.dtype)} here but {b.shape} "
                f"{b.dtype} there"
            )
    if problems:
        return ours
    return traverse_util.unflatten_dict({k: np.asarray(v) for k, v in other.items()}, sep="/")
