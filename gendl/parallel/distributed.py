"""Joining a multi-process (multi-host) job through JAX's own runtime, jax.distributed."""

import os

import jax
from absl import logging


def maybe_initialize() -> None:
    """Initialises jax.distributed when launched as one process of several.

    `launch/` scripts set GENDL_COORDINATOR_ADDRESS, GENDL_NUM_PROCESSES, GENDL_PROCESS_ID.
    On Cloud TPU pods and SLURM, GENDL_DISTRIBUTED=1 lets JAX detect everything itself.
    A single process (the default) needs nothing.
    """
    if os.environ.get("GENDL_COORDINATOR_ADDRESS"):
        missing = [v for v in ("GENDL_NUM_PROCESSES", "GENDL_PROCESS_ID") if v not in os.environ]
        if missing:
            from gendl.config import ConfigError

            raise ConfigError(
                f"GENDL_COORDINATOR_ADDRESS is set but {', '.join(missing)} is not: a process "
                "of a multi-process job needs all three (see launch/local_multiprocess.sh)."
            )
        jax.distributed.initialize(
            coordinator_address=os.environ["GENDL_COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["GENDL_NUM_PROCESSES"]),
            process_id=int(os.environ["GENDL_PROCESS_ID"]),
        )
    elif os.environ.get("GENDL_DISTRIBUTED") == "1":
        jax.distributed.initialize()
    else:
        return
    logging.info(
        "Process %d of %d, %d local / %d global devices",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )
