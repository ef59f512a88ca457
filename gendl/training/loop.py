"""The one trainer every model family runs through.

Sections: set-up and resume; the step loop; metrics (fetched in windows so the host does
not wait for the device every step); samples; checkpoints; shutdown.
"""

import json
import math
import os
import time

import jax
import numpy as np
from absl import logging

from gendl import checkpointing
from gendl.monitoring import images as images_lib
from gendl.monitoring import metrics as metrics_lib
from gendl.monitoring import progress as progress_lib
from gendl.training import experiment as experiment_lib
from gendl.training import preemption


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/Inf; the message names the step and the last good checkpoint."""


class Preempted(Exception):
    """Raised after a SIGTERM checkpoint so the caller can exit with the conventional code."""


def _write_config(config, workdir):
    path = os.path.join(workdir, "config.json")
    new = json.loads(config.to_json_best_effort())
    if os.path.exists(path):
        with open(path) as f:
            try:
                old = json.load(f)
            except json.JSONDecodeError:
                old = {}
        changed = _diff(old, new)
        if changed:
            logging.warning("Resuming with a changed config: %s", ", ".join(changed))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(new, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _diff(old, new, prefix=""):
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


class _MetricWindow:
    """Holds the device metrics of recent steps; fetching them is the only host sync."""

    def __init__(self):
        self.pending = []  # (step, device metrics) not yet fetched
        self.fetched = []  # (step, host metrics) since the last write

    def add(self, step, metrics):
        self.pending.append((step, metrics))

    def fetch(self):
        """Copies pending metrics to the host; returns the first non-finite (step, name, value)."""
        host = jax.device_get([m for _, m in self.pending])
        bad = None
        for (step, _), m in zip(self.pending, host, strict=True):
            m = {k: float(v) for k, v in m.items()}
            self.fetched.append((step, m))
            if bad is None:
                for k, v in m.items():
                    if not math.isfinite(v):
                        bad = (step, k, v)
                        break
        self.pending = []
        return bad

    def mean(self):
        if not self.fetched:
            return {}
        keys = self.fetched[-1][1].keys()
        return {k: float(np.mean([m[k] for _, m in self.fetched])) for k in keys}

    def reset(self):
        self.fetched = []


def train(config, workdir: str, *, timed_after: int = 2) -> dict:
    """Trains until config.total_steps; resumes from the workdir's latest checkpoint.

    Returns the final step and the wall time of the steps after the first `timed_after`
    (which include compilation): `gendl.bench` reports the full loop's speed from it.
    """
    # Watch for SIGTERM from the start: a preemption during set-up or compilation must still
    # end in a checkpoint (after the first step), not a killed process.
    with preemption.PreemptionWatch() as preempt:
        return _train(config, workdir, preempt, timed_after)


def _train(config, workdir, preempt, timed_after):
    os.makedirs(workdir, exist_ok=True)
    primary = jax.process_index() == 0
    exp = experiment_lib.build(config)
    logging.info(
        "Devices: %d (%s), processes: %d",
        exp.mesh.size,
        jax.devices()[0].platform,
        jax.process_count(),
    )

    # --- Set-up and resume: resume from the workdir, else start from scratch.
    ckpt = checkpointing.Checkpointer(
        os.path.join(workdir, "checkpoints"),
        save_every_steps=config.checkpoint.every_steps,
        keep=config.checkpoint.keep,
    )
    restored = ckpt.restore(exp.abstract_state())
    if restored is None:
        state, start = exp.init_state(), 0
        logging.info("Starting from scratch in %s", workdir)
    else:
        state, meta, start = restored
        exp.batches.sampler.check_state(meta["data"])
        logging.info("Resumed from step %d in %s", start, workdir)
    if primary:
        _write_config(config, workdir)
    writers = metrics_lib.RunWriters(workdir, enabled=primary, resume_step=start)
    progress = progress_lib.Progress(
        config.total_steps, start, every_seconds=config.log.progress_every_seconds
    )
    noise = exp.sample_noise(config.log.num_samples)
    window = _MetricWindow()

    def meta_for(step):
        return {
            "data": exp.data_state(step),
            "config": {"model": config.model.name, "objective": config.objective.name},
        }

    def check_finite():
        bad = window.fetch()
        if bad is not None:
            ckpt.wait()
            last = ckpt.latest_step()
            where = (
                f"the last good checkpoint is step {last} in {ckpt.directory} and is intact"
                if last is not None
                else "no checkpoint had been written yet"
            )
            raise NonFiniteLossError(
                f"Training stopped: {bad[1]} became {bad[2]} at step {bad[0]}. Nothing was saved "
                f"after it; {where}. Rerunning the same command resumes from there (with the "
                "same config the same step will diverge again: lower the learning rate, enable "
                "--config.optimizer.grad_clip_norm, or change the seed)."
            )

    def write_samples(step):
        images = np.asarray(jax.device_get(exp.sample(state.params, noise)))
        writers.write_images(step, {"samples": images_lib.make_grid(images)})

    # --- The step loop.
    step = start
    timer = {"start_step": None, "start": None}
    while step < config.total_steps:
        if step == start + timed_after:
            jax.block_until_ready(state)
            timer.update(start_step=step, start=time.perf_counter())
        batch = exp.batch(step)
        state, metrics = exp.train_step(state, batch)
        step += 1
        window.add(step, metrics)

        is_last = step == config.total_steps
        stop = preempt.reached(step)
        log_now = step % config.log.every_steps == 0 or is_last
        # The modulo first: orbax's should_save costs ~30 us, a percent of a fast step.
        on_schedule = step % config.checkpoint.every_steps == 0 and ckpt.should_save(step)
        save_now = on_schedule or is_last or stop
        if log_now or save_now or progress.due():
            check_finite()  # before any save: a checkpoint never holds NaNs
            line = progress.update(step, window.mean())
            if line:
                logging.info("%s", line)
        if log_now:
            writers.write_scalars(step, window.mean())
            window.reset()
        if step % config.log.sample_every_steps == 0 or is_last:
            write_samples(step)
        if save_now:
            ckpt.save(step, state, meta_for(step), force=is_last or stop)
        if stop:
            break

    jax.block_until_ready(state)
    timed = {"timed_steps": 0, "timed_seconds": 0.0}
    if timer["start"] is not None:
        timed = {
            "timed_steps": step - timer["start_step"],
            "timed_seconds": time.perf_counter() - timer["start"],
        }

    # --- Shutdown: finish async writes so nothing is lost.
    ckpt.wait()
    ckpt.close()
    writers.close()
    if step < config.total_steps:
        raise Preempted(
            f"Stopped by SIGTERM at step {step}; checkpoint saved in {ckpt.directory}. "
            "Rerun the same command to continue."
        )
    logging.info("Done: %d steps in %s", step, workdir)
    return {"step": step, **timed}
