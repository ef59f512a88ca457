"""Loading a trained workdir: its config.json and its latest readable checkpoint.

Evaluation (gendl.evaluate, gendl.sample) and the classifier feature extractor both load runs;
this module imports no evaluator, so neither side imports the other back.
"""

import dataclasses
import json
import os

import ml_collections

from gendl import checkpointing
from gendl.config import ConfigError
from gendl.training import experiment as experiment_lib


def load_config(workdir) -> ml_collections.ConfigDict:
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise ConfigError(
            f"{path} does not exist: --workdir must be a directory that `python -m gendl.main` "
            "trained in (it writes config.json and checkpoints/ there)."
        )
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


@dataclasses.dataclass
class Run:
    config: ml_collections.ConfigDict
    exp: experiment_lib.Experiment
    state: object  # the TrainState of the latest readable checkpoint
    step: int


def load_run(workdir, config=None) -> Run:
    """The run's config (or `config`, e.g. with changed evaluator settings), its experiment
    rebuilt from it, and its latest checkpoint."""
    config = load_config(workdir) if config is None else config
    exp = experiment_lib.build(config)
    ckpt = checkpointing.Checkpointer(
        os.path.join(workdir, "checkpoints"), save_every_steps=1, keep=10**6
    )
    try:
        restored = ckpt.restore(exp.abstract_state())
    finally:
        ckpt.close()
    if restored is None:
        raise ConfigError(f"No checkpoint in {workdir}/checkpoints: train first.")
    state, _, step = restored
    return Run(config, exp, state, int(step))
