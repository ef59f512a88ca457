"""Evaluating a trained workdir's latest checkpoint (library side of gendl.evaluate) and
exporting its samples (gendl.sample); loading it is gendl.evaluation.runs."""

import ast
import functools
import json
import os

import jax
import numpy as np
from absl import logging

from gendl.config import ConfigError
from gendl.evaluation import evaluators, predict, sampling
from gendl.evaluation.runs import load_config, load_run
from gendl.monitoring import images as images_lib
from gendl.training import loop, workdir_lock


def _apply_overrides(evals, overrides):
    """ "name.key=value" strings (value a Python literal, else a string) into config.evals."""
    for item in overrides or ():
        target, sep, text = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or name not in evals:
            raise ConfigError(
                f"--set={item!r}: expected <evaluator>.<key>=<value> with an evaluator of this "
                f"run's config ({', '.join(sorted(evals)) or 'none'}), e.g. "
                "--set=sample_quality.num_samples=1000."
            )
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        with evals[name].unlocked():
            evals[name][key] = value


def evaluate(workdir, names=None, num_samples=None, num_examples=None, overrides=None):
    """Runs the run's config.evals (or `names` of them) on its latest checkpoint; returns a
    flat dict {"<eval name>/<metric>": value} plus workdir and step, also written to
    <workdir>/eval_<step>.json. `overrides`: ["<eval name>.<key>=<value>", ...]."""
    config = load_config(workdir)
    _apply_overrides(config.evals, overrides)  # before the slow part: typos fail at once
    # Reading a workdir a trainer is using is fine; writing into it is not.
    lock = None
    if jax.process_index() == 0:
        lock = workdir_lock.WorkdirLock(workdir, "gendl.evaluate")
        try:
            lock.acquire()
        except workdir_lock.WorkdirLocked as e:
            lock = None
            logging.warning(
                "The workdir is in use by %s: the figures are printed but neither "
                "eval_<step>.json nor pictures are written into it.",
                e.holder,
            )
    try:
        return _evaluate(workdir, config, names, num_samples, num_examples, write=lock is not None)
    finally:
        if lock is not None:
            lock.release()


def _evaluate(workdir, config, names, num_samples, num_examples, write):
    run = load_run(workdir, config)
    exp, state, step = run.exp, run.state, run.step
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
        evaluator = evaluators.build(exp, name, cfg, train=loop.train)
        values, pictures = evaluator.run(state.variables())
        result.update({f"{name}/{k}": v for k, v in values.items()})
        for key, image in pictures.items() if write else ():
            images_lib.write_png(
                os.path.join(workdir, "samples", f"eval_{name}_{key}_{step:08d}.png"), image
            )
    if write:
        path = os.path.join(workdir, f"eval_{step:08d}.json")
        images_lib.write_atomic(path, json.dumps(result, indent=2).encode())
    return result


def export_npz(workdir, num_samples, out, seed=0, batch_size=500, truncation=None):
    """Writes the .npz and returns (images, labels or None). `truncation` psi (None: none):
    samples through the model's predict function `sample_truncated` (StyleGAN2's w
    truncation towards the mean w)."""
    if num_samples < 1:
        raise ConfigError(f"--num_samples must be >= 1, got {num_samples}.")
    run = load_run(workdir)
    p = predict.of(run.exp)
    user = f"gendl.sample export of {workdir}"
    sample, sample_noise = p.require(user, "sample", "sample_noise")
    if truncation is not None:
        (truncated,) = p.require(f"{user} with --truncation", "sample_truncated")
        sample = functools.partial(_with_psi, truncated, float(truncation))
    images, labels = sampling.generate_all(
        sample,
        sample_noise,
        run.state.variables(),
        num_samples,
        num_classes=p.num_classes,
        batch_size=batch_size,
        seed=seed,
    )
    arrays = {"images": images}
    if labels is not None:
        arrays["labels"] = labels.astype(np.int32)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez(out, **arrays)
    return images, labels


def _with_psi(sample_truncated, psi, variables, noise, labels=None):
    return sample_truncated(variables, noise, psi, labels)


def format_table(result):
    """Two aligned columns, metric and value, one row per figure."""
    rows = [(k, f"{v:.6g}" if isinstance(v, float) else str(v)) for k, v in result.items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
