"""What an evaluator needs once per dataset and gendl builds itself (the feature classifier of
the sample-quality metrics): built on first need with the one trainer, cached, announced.

A prerequisite is built into `<workdir>.partial` under a file lock and renamed into place
when its training finishes, so two processes never build it at once, a crash never leaves a
half-built cache that looks complete, and a build stopped by SIGTERM resumes where it was.
The trainer is passed in (`train`, gendl.training.loop.train): the trainer imports the
evaluators, so nothing here imports it back.
"""

import dataclasses
import os
import pathlib

import jax
import ml_collections
from absl import logging

from gendl.config import ConfigError
from gendl.data import source
from gendl.data.source import DataError
from gendl.evaluation import classifier_config


class Unavailable(ConfigError):
    """An evaluator's need that is missing and cannot be built here; the message says how to
    get it. The trainer skips that evaluation with a warning; training goes on."""


@dataclasses.dataclass(frozen=True)
class Prerequisite:
    description: str  # e.g. "the mnist feature classifier"
    workdir: str  # where the finished build lives (a gendl.main workdir)
    config: ml_collections.ConfigDict  # the training config that builds it
    how_to: str  # the command that builds it by hand, for messages

    def ready(self) -> bool:
        return os.path.exists(os.path.join(self.workdir, "config.json")) and os.path.isdir(
            os.path.join(self.workdir, "checkpoints")
        )


def ensure(need: Prerequisite, train) -> None:
    """Builds `need` with `train(config, workdir)` unless it is cached; raises Unavailable
    (with what to do) when it cannot be built."""
    if need.ready():
        return
    if jax.process_count() > 1:  # every process would have to train it in lockstep
        raise Unavailable(
            f"{need.description} is not at {need.workdir} and a multi-process run does not "
            f"build it. Build it once on one host with `{need.how_to}`, then rerun."
        )
    final = pathlib.Path(need.workdir)
    # The data preparation's lock: one implementation of locking for every cache.
    with source._exclusive_lock(final.parent / f".{final.name}.lock"):
        if need.ready():  # another process built it while this one waited for the lock
            return
        if final.exists() and any(final.iterdir()):
            raise Unavailable(
                f"{final} exists but holds no finished {need.description} (no config.json or "
                f"checkpoints/): move it away and gendl builds it there on the next "
                f"evaluation, or build it with `{need.how_to}`."
            )
        _build(need, final, train)


def _build(need, final, train):
    partial = final.with_name(final.name + ".partial")
    steps = need.config.total_steps
    logging.info(
        "Building %s, once, cached in %s (%d steps; an evaluator needs it)",
        need.description,
        final,
        steps,
    )
    try:
        train(need.config, os.fspath(partial))
    except (ConfigError, DataError) as e:
        raise Unavailable(
            f"could not build {need.description}: {e} Once the data is there, the next "
            f"evaluation builds it, or build it by hand with `{need.how_to}`."
        ) from e
    if final.exists():
        final.rmdir()  # empty (checked under the lock above)
    os.rename(partial, final)
    logging.info("Built %s in %s", need.description, final)


CACHE_DIR_ENV = "GENDL_CACHE_DIR"


def cache_dir() -> str:
    return os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "gendl")


def classifier_workdir(dataset: str, cfg) -> str:
    return cfg.get("classifier_workdir", "") or os.path.join(cache_dir(), "classifier", dataset)


def classifier_prerequisite(dataset: str, cfg, manual_dir="", data_dir=""):
    """The classifier of `dataset` as a prerequisite (built on first need, see `ensure`),
    reading the data where the evaluated run reads it."""
    workdir = classifier_workdir(dataset, cfg)
    variant = classifier_config.VARIANTS.get(dataset)
    flag = f"{classifier_config.__file__}{':' + variant if variant else ''}"
    extra = "" if dataset in classifier_config.VARIANTS else f" --config.data.name={dataset}"
    return Prerequisite(
        description=f"the {dataset} feature classifier",
        workdir=workdir,
        config=classifier_config.for_dataset(
            dataset, manual_dir, data_dir, cfg.get("classifier_overrides", None)
        ),
        how_to=f"python -m gendl.main --config={flag}{extra} --workdir={workdir}",
    )
