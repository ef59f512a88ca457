"""Joining a multi-process (multi-host) job through JAX's own runtime, jax.distributed.

How a process learns that it is one of several, from its environment:

- `launch/local.sh` (and any hand-made launcher) sets GENDL_COORDINATOR_ADDRESS,
  GENDL_NUM_PROCESSES and GENDL_PROCESS_ID;
- `launch/tpu_pod.sh` and `launch/slurm.sbatch` set GENDL_DISTRIBUTED=1, and JAX reads the
  rest from the TPU metadata server or SLURM's variables (SLURM_PROCID, SLURM_NTASKS, ...).

A single process (neither set) needs nothing and starts no coordinator.

GENDL_HEARTBEAT_TIMEOUT (seconds, default 60) bounds how long the survivors of a dead process
wait: after it, JAX's coordination service declares the silent process dead and terminates the
others with an error naming it, instead of leaving them blocked in a collective forever;
peer_death turns JAX's abort report into one gendl paragraph.
"""

import os

import jax
from absl import logging

from gendl.parallel import peer_death

DEFAULT_HEARTBEAT_TIMEOUT_S = 60


def _int_env(name: str, default: int | None = None) -> int:
    from gendl.config import ConfigError

    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ConfigError(f"{name} is not set.")
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(f"{name}={value!r} must be a non-negative integer.")
    return number


def maybe_initialize() -> None:
    """Initialises jax.distributed when launched as one process of several; a no-op otherwise.

    Must run before anything touches a JAX device (the backend is created on first use).
    """
    explicit = bool(os.environ.get("GENDL_COORDINATOR_ADDRESS"))
    if not explicit and os.environ.get("GENDL_DISTRIBUTED") != "1":
        return
    peer_death.install()  # before jax.distributed starts the threads that would abort us
    heartbeat = max(1, _int_env("GENDL_HEARTBEAT_TIMEOUT", DEFAULT_HEARTBEAT_TIMEOUT_S))
    # Cross-process collectives of the CPU backend (tests, `launch/local.sh` on a laptop) go
    # through gloo over TCP; GPUs and TPUs use their own interconnect and ignore this.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    timeouts = dict(
        heartbeat_timeout_seconds=heartbeat,
        # A process that fails before joining must not leave the others waiting 5 minutes.
        initialization_timeout=max(60, 2 * heartbeat),
        shutdown_timeout_seconds=max(10, heartbeat),
    )
    if explicit:
        missing = [v for v in ("GENDL_NUM_PROCESSES", "GENDL_PROCESS_ID") if v not in os.environ]
        if missing:
            from gendl.config import ConfigError

            raise ConfigError(
                f"GENDL_COORDINATOR_ADDRESS is set but {', '.join(missing)} is not: a process "
                "of a multi-process job needs all three (see launch/local.sh)."
            )
        jax.distributed.initialize(
            coordinator_address=os.environ["GENDL_COORDINATOR_ADDRESS"],
            num_processes=_int_env("GENDL_NUM_PROCESSES"),
            process_id=_int_env("GENDL_PROCESS_ID"),
            **timeouts,
        )
    else:
        jax.distributed.initialize(**timeouts)
    logging.info(
        "Process %d of %d, %d local / %d global devices",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )
