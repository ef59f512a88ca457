"""Evaluating a trained workdir's latest checkpoint (library side of gendl.evaluate)."""

import json
import os

import jax
import ml_collections

from gendl import checkpointing
from gendl.config import ConfigError
from gendl.evaluation import evaluators
from gendl.monitoring import images as images_lib
from gendl.training import experiment as experiment_lib


def _load_config(workdir):
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise ConfigError(
            f"{path} does not exist: --workdir must be a directory that `python -m gendl.main` "
            "trained in (it writes config.json and checkpoints/ there)."
        )
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


def evaluate(workdir, names=None, num_samples=None, num_examples=None):
    config = _load_config(workdir)
    exp = experiment_lib.build(config)
    ckpt = checkpointing.Checkpointer(
        os.path.join(workdir, "checkpoints"), save_every_steps=1, keep=10**6
    )
    restored = ckpt.restore(exp.abstract_state())
    ckpt.close()
    if restored is None:
        raise ConfigError(f"No checkpoint in {workdir}/checkpoints: train first.")
    state, _, step = restored
    names = names or sorted(config.evals.keys())
    unknown = sorted(set(names) - set(config.evals.keys()))
    if unknown:
        raise ConfigError(
            f"Evaluators {unknown} are not in this run's config; it has "
            f"{sorted(config.evals.keys()) or 'none'}."
        )
    result = {"workdir": workdir, "step": step}
    for name in names:
        cfg = config.evals[name]
        with cfg.unlocked():
            if num_samples is not None and "num_samples" in cfg:
                cfg.num_samples = num_samples
            if num_examples is not None:
                cfg.num_examples = num_examples
        values, pictures = evaluators.build(exp, name, cfg).run(state.variables())
        result.update({f"{name}/{k}": v for k, v in values.items()})
        for key, image in pictures.items():
            images_lib.write_png(
                os.path.join(workdir, "samples", f"eval_{name}_{key}_{step:08d}.png"), image
            )
    if jax.process_index() == 0:
        with open(os.path.join(workdir, f"eval_{step:08d}.json"), "w") as f:
            json.dump(result, f, indent=2)
    return result
