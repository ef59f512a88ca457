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
from gendl import config as config_lib
from gendl.config import ConfigError
from gendl.data import manifest
from gendl.data.source import DataError
from gendl.evaluation import evaluators, prerequisites
from gendl.monitoring import images as images_lib
from gendl.monitoring import metrics as metrics_lib
from gendl.monitoring import progress as progress_lib
from gendl.objectives import feature_networks
from gendl.training import experiment as experiment_lib
from gendl.training import final_evals, init_from, preemption, workdir_lock


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/Inf; the message names the step and the last good checkpoint."""


class Preempted(Exception):
    """Raised after a SIGTERM checkpoint so the caller can exit with the conventional code."""


def _write_config(config, workdir, resumed):
    path = os.path.join(workdir, "config.json")
    new = json.loads(config.to_json_best_effort())
    if resumed and os.path.exists(path):
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
    """Holds the device metrics of recent steps; fetching them is the only host sync.

    A train step returns its scalars stacked in one float32 vector, so a fetch copies one
    small array per step, not one per scalar. Each step keeps the names of its own phase's
    vector (`Experiment.metric_names_of`): phases may log different metrics.
    """

    def __init__(self):
        self.pending = []  # (step, names, device vector) not yet fetched
        self.fetched = []  # (step, host dict) since the last write

    def add(self, step, names, metrics, max_in_flight=2):
        """Records a dispatched call that ended at `step`: one step's metrics vector, or
        k steps' as a [k, names] matrix (steps step-k+1 .. step); waits while more than
        `max_in_flight` calls are queued.

        JAX dispatches asynchronously, so without this the host races ahead until the next
        metric fetch (up to log.every_steps steps): a SIGTERM would then be honoured only
        minutes later, and the progress line's clock would measure dispatch, not training.
        Two steps in flight keep the device busy while the host prepares the next batch.
        """
        self.pending.append((step, names, metrics))
        if len(self.pending) > max_in_flight:
            jax.block_until_ready(self.pending[-1 - max_in_flight][2])

    def fetch(self):
        """Copies pending metrics to the host; returns the first non-finite (step, name, value)
        and keeps only the steps before it, so the run-up to a divergence still gets logged."""
        pending, self.pending = self.pending, []
        host = jax.device_get([vector for _, _, vector in pending])
        for (last, names, _), rows in zip(pending, host, strict=True):
            rows = np.atleast_2d(np.asarray(rows, np.float64))
            for step, vector in enumerate(rows.tolist(), start=last - len(rows) + 1):
                values = dict(zip(names, vector, strict=True))
                for name, value in values.items():
                    if not math.isfinite(value):
                        return step, name, value
                self.fetched.append((step, values))
        return None

    def mean(self):
        """Each name's mean over the steps that logged it (a window may span two phases)."""
        by_name = {}
        for _, values in self.fetched:
            for k, v in values.items():
                by_name.setdefault(k, []).append(v)
        return {k: float(np.mean(v)) for k, v in sorted(by_name.items())}

    def reset(self):
        self.fetched = []


def train(config, workdir: str, *, timed_after: int = 2, mesh=None) -> dict:
    """Trains until config.total_steps; resumes from the workdir's latest checkpoint.

    Returns the final step and the wall time of the steps after the first `timed_after`
    (which include compilation): `gendl.bench` reports the full loop's speed from it.
    `mesh` defaults to every device (`gendl.bench` passes smaller ones to measure scaling).
    """
    # Watch for SIGTERM from the start: a preemption during set-up or compilation must still
    # end in a checkpoint (after the first step), not a killed process.
    with preemption.PreemptionWatch() as preempt:
        return _train(config, workdir, preempt, timed_after, mesh)


def _train(config, workdir, preempt, timed_after, mesh):
    # The config is checked before the workdir is created: a typo must not leave a directory.
    device_count = jax.device_count() if mesh is None else mesh.size
    config_lib.validate(config, device_count, jax.process_count())
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"Cannot create the workdir {workdir!r}: {e.strerror}. Pass a --workdir you can "
            "write to."
        ) from e
    workdir = os.path.abspath(workdir)
    # One trainer per workdir, held until the final evaluations are written.
    lock = workdir_lock.acquire_for_job(workdir, workdir_lock.program_name())
    try:
        return _train_locked(config, workdir, preempt, timed_after, mesh)
    finally:
        if lock is not None:
            lock.release()


def _train_locked(config, workdir, preempt, timed_after, mesh):
    primary = jax.process_index() == 0
    # A frozen feature network gendl trains itself (a classifier) is built before the
    # experiment loads it.
    for need in feature_networks.prerequisites_of(config):
        prerequisites.ensure(need, train)
    exp = experiment_lib.build(config, mesh)
    # What an evaluator needs from outside the run (e.g. a trained feature extractor) is
    # checked now, not after hours of training.
    for name, cfg in config.evals.items():
        if cfg.get("every_steps", 0) >= 0:
            evaluators.preflight(exp, name, cfg)
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
    try:
        # Precedence: the workdir's own checkpoint, else config.init_from, else scratch.
        restored = ckpt.restore(exp.abstract_state())
        if restored is None:
            state, start, last_good = _fresh_state(exp, config, workdir), 0, None
            if primary:
                _set_aside_old_metrics(workdir)
        else:
            state, meta, start = restored
            _check_data_position(exp, meta, start)
            last_good = start
            logging.info("Resumed from step %d in %s", start, workdir)
        if primary:
            _write_config(config, workdir, resumed=restored is not None)
            manifest.check_and_record(
                workdir, manifest.of_batches(exp.batches), resumed=restored is not None
            )
        writers = metrics_lib.RunWriters(workdir, enabled=primary, resume_step=start)
    except BaseException:
        ckpt.close()
        raise
    try:
        return _loop(config, exp, ckpt, writers, state, start, last_good, preempt, timed_after)
    finally:
        # Also on errors: finish async checkpoint writes, flush buffered TensorBoard events.
        try:
            ckpt.close()
        finally:
            writers.close()


def _set_aside_old_metrics(workdir):
    """A fresh start in a workdir that already logged (its checkpoints were moved away) keeps
    the earlier metrics under another name instead of truncating them."""
    path = os.path.join(workdir, metrics_lib.METRICS_FILENAME)
    if os.path.exists(path) and os.path.getsize(path) > 0:
        kept = os.path.join(workdir, f"metrics.before-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
        os.replace(path, kept)
        logging.warning(
            "Starting from scratch in a workdir without checkpoints; the earlier "
            "metrics.jsonl is kept as %s.",
            kept,
        )
    record = os.path.join(workdir, final_evals.FILENAME)
    if os.path.exists(record):
        os.remove(record)


class _Evaluations:
    """config.evals, built on first use (they load the test split and compile)."""

    def __init__(self, exp, config):
        self.exp, self.cfgs, self.built = exp, dict(config.evals.items()), {}

    def run(self, step, params, writers):
        """The evaluations due at `step` on their schedule (not the final ones)."""
        scalars = {}
        for name, cfg in sorted(self.cfgs.items()):
            every = cfg.get("every_steps", 0)  # < 0: only from gendl.evaluate
            if every > 0 and step % every == 0:
                scalars.update(self.run_one(name, step, params, writers))
        return scalars

    def final_names(self):
        return [n for n, cfg in sorted(self.cfgs.items()) if cfg.get("every_steps", 0) >= 0]

    def run_one(self, name, step, params, writers):
        if name not in self.built:
            self.built[name] = self._build(name, self.cfgs[name])
        if self.built[name] is None:
            return {}
        values, images = self.built[name].run(params)
        writers.write_images(step, {f"{name}_{k}": v for k, v in images.items()})
        logging.info("eval %s at step %d: %s", name, step, values)
        return {f"eval/{name}/{k}": v for k, v in values.items()}

    def _build(self, name, cfg):
        """The evaluator, after building what it needs once per dataset (e.g. the feature
        classifier, with this trainer); None, with a warning, when that cannot be had."""
        try:
            return evaluators.build(self.exp, name, cfg, train=train)
        except (prerequisites.Unavailable, NonFiniteLossError) as e:  # the latter: its build
            logging.warning("Skipping the %s evaluation; training goes on. %s", name, e)
            return None


def _fresh_state(exp, config, workdir):
    """The state at step 0: initialised, with networks from config.init_from if set."""
    state = exp.init_state()
    source = config.get("init_from", "")
    if not source:
        logging.info("Starting from scratch in %s", workdir)
        return state
    state, names, step = init_from.initialise(state, source, exp.state_sharding)
    logging.info(
        "Starting in %s from the networks %s of %s (its step %d); optimiser state and step "
        "start fresh",
        workdir,
        ", ".join(names),
        source,
        step,
    )
    return state


def _check_data_position(exp, meta, start):
    """The checkpoint's data position must be where this config would read at `start`."""
    next_batch = exp.batches.check_state(meta["data"], meta.get("streams"))
    if next_batch != exp.batches_before(start):
        raise DataError(
            f"The checkpoint at step {start} stopped at real batch {next_batch}, but this config "
            f"consumes {exp.batches_per_step} batches per step and would resume at batch "
            f"{exp.batches_before(start)}: the number of batches per step (e.g. "
            "objective.n_critic or its bursts) changed since the run started. Resume with the "
            "original setting, or start a new --workdir."
        )


def _call_length(exp, config, step, phase, timer_step) -> int:
    """How many steps the next compiled call runs from `step`: config.steps_per_call when
    none of the steps it would finish before its last one is due for a log, checkpoint,
    sample grid, evaluation or the timer, and all share `phase`; else 1. So every cadence
    stays exact and only two programs per phase are compiled (1 and k steps)."""
    k = exp.steps_per_call
    if k == 1 or step + k > config.total_steps:
        return 1
    every = [config.log.every_steps, config.checkpoint.every_steps]
    if exp.objective.generates_images:
        every.append(config.log.sample_every_steps)
    every += [e.get("every_steps", 0) for e in config.evals.values()]
    every = [e for e in every if e > 0]
    for done in range(step + 1, step + k):  # steps done after each inner step but the last
        if done == timer_step or any(done % e == 0 for e in every):
            return 1
        if exp.phase(done) != phase:
            return 1
    return k


def _loop(config, exp, ckpt, writers, state, start, last_good, preempt, timed_after):
    primary = jax.process_index() == 0
    progress = progress_lib.Progress(
        config.total_steps, start, every_seconds=config.log.progress_every_seconds
    )
    noise = exp.sample_noise(config.log.num_samples)
    window = _MetricWindow()
    evals = _Evaluations(exp, config)

    def check_finite():
        bad = window.fetch()
        if bad is None:
            return
        if window.fetched:  # the finite steps before the divergence
            writers.write_scalars(window.fetched[-1][0], window.mean())
        ckpt.wait()
        damage = ckpt.verify(last_good) if last_good is not None else None
        if last_good is None:
            where = "no checkpoint had been written yet"
        elif damage is None:
            where = (
                f"the last good checkpoint is step {last_good} in {ckpt.directory}, and its "
                "files still match their checksums"
            )
        else:
            where = (
                f"the last checkpoint, step {last_good} in {ckpt.directory}, is damaged "
                f"({damage}), so a rerun falls back to an earlier one"
            )
        raise NonFiniteLossError(
            f"Training stopped: {bad[1]} became {bad[2]} at step {bad[0]}. Nothing was saved "
            f"after it; {where}. Rerunning the same command resumes from there (with the "
            "same config the same step will diverge again: lower the learning rate, enable "
            "--config.optimizer.grad_clip_norm, or change the seed)."
        )

    def write_samples(step):
        images = np.asarray(jax.device_get(exp.sample(state.variables(), noise)))
        writers.write_images(step, {"samples": images_lib.make_grid(images)})

    # --- The step loop.
    step = start
    timer = {"start_step": None, "start": None, "end": None}
    while step < config.total_steps:
        if step == start + timed_after:
            jax.block_until_ready(state)
            timer.update(start_step=step, start=time.perf_counter())
        phase = exp.phase(step)
        run = _call_length(exp, config, step, phase, start + timed_after)
        if run == 1:
            state, metrics = exp.jitted_step(phase)(state, exp.frozen, exp.batch(step))
        else:
            batches = exp.stacked_batches(step, run)
            state, metrics = exp.jitted_steps(phase, run)(state, exp.frozen, batches)
        step += run
        window.add(step, exp.metric_names_of(phase), metrics)

        is_last = step == config.total_steps
        stop = preempt.reached(step)
        log_now = step % config.log.every_steps == 0 or is_last
        # The modulo first: orbax's should_save costs ~30 us, a percent of a fast step.
        on_schedule = step % config.checkpoint.every_steps == 0 and ckpt.should_save(step)
        save_now = on_schedule or is_last or stop
        # With several processes, when to fetch (and maybe stop on a NaN) must not depend on a
        # process's own clock, or one would leave the collective step the others wait in.
        show = progress.due() if jax.process_count() == 1 else False
        ckpt.raise_if_write_failed()  # a failed background write stops training at once
        if log_now or save_now or show:
            check_finite()  # before any save: a checkpoint never holds NaNs
            line = progress.update(step, window.mean())
            if line and primary:
                logging.info("%s", line)
        if is_last or stop:
            jax.block_until_ready(state)
            timer["end"] = time.perf_counter()  # before the final save, samples, evaluations
        if save_now and ckpt.save(step, state, exp.checkpoint_meta(step), force=is_last or stop):
            last_good = step
        if exp.objective.generates_images and (
            step % config.log.sample_every_steps == 0 or is_last
        ):
            write_samples(step)
        if is_last:  # the final evaluations follow the loop: they are resumable on their own
            break
        try:
            eval_scalars = evals.run(step, state.variables(), writers)
        except Preempted:  # SIGTERM while an evaluator built its classifier: save this run too
            if last_good != step:
                check_finite()  # a checkpoint never holds NaNs
                ckpt.save(step, state, exp.checkpoint_meta(step), force=True)
            raise
        # A preemption also writes the partial window, so no logged step is lost.
        if log_now or eval_scalars or (stop and window.fetched):
            writers.write_scalars(step, {**window.mean(), **eval_scalars})
            window.reset()
        if stop:
            break

    timed = {"timed_steps": 0, "timed_seconds": 0.0}
    if timer["start"] is not None and timer["end"] is not None:
        timed = {
            "timed_steps": step - timer["start_step"],
            "timed_seconds": timer["end"] - timer["start"],
        }
    # The final checkpoint is complete before the final evaluations start: a failed write
    # stops here, and a kill during the evaluations resumes from this step.
    ckpt.wait()
    if step < config.total_steps:
        raise Preempted(
            f"Stopped by SIGTERM at step {step}; checkpoint saved in {ckpt.directory}. "
            "Rerun the same command to continue."
        )
    workdir = os.path.dirname(ckpt.directory)
    _final_evaluations(evals, step, state.variables(), writers, window, preempt, workdir)
    logging.info("Done: %d steps in %s", step, workdir)
    return {"step": step, **timed}


class _FinalEvalsStopped(Exception):
    """Raised by the SIGTERM handler while the final evaluations run."""


def _final_evaluations(evals, step, params, writers, window, preempt, workdir):
    """Runs the final evaluations not yet recorded as done in the workdir, then logs the last
    window's metrics and every final figure as the last metrics line. SIGTERM stops them at
    once (exit 143); a rerun resumes at the final checkpoint and runs the missing ones."""
    record = final_evals.FinalEvalRecord(workdir, step, write=jax.process_index() == 0)
    if record.complete:
        return
    if record.done:
        logging.info("Final evaluations already done: %s", ", ".join(record.done))
    record.start(window.mean())
    window.reset()
    try:
        with preempt.raising(_FinalEvalsStopped):
            for name in evals.final_names():
                if name not in record.done:
                    record.finished(name, evals.run_one(name, step, params, writers))
    except (_FinalEvalsStopped, Preempted):
        missing = [n for n in evals.final_names() if n not in record.done]
        raise Preempted(
            f"Stopped by SIGTERM during the final evaluations at step {step}; the final "
            f"checkpoint and the evaluations done ({', '.join(record.done) or 'none'}) are "
            f"saved in {workdir}. Rerun the same command to run the rest "
            f"({', '.join(missing)})."
        ) from None
    writers.write_scalars(step, record.scalars)
    record.mark_complete()
