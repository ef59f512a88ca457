"""Trains a model from a config: `python -m gendl.main --config=configs/wgan_gp.py --workdir=DIR`.

Running the same command again continues from the workdir's latest checkpoint.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

from gendl import checkpointing, cli
from gendl.config import ConfigError
from gendl.data.source import DataError
from gendl.monitoring import console
from gendl.parallel import distributed
from gendl.training import loop

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Config file, e.g. configs/wgan_gp.py (or configs/wgan_gp.py:smoke).",
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints, metrics, samples; resumes from it if it exists."
)
flags.mark_flags_as_required(["config", "workdir"])

# Failures whose message already says what to do: print it, no traceback wall.
_USER_ERRORS = (ConfigError, DataError, checkpointing.CheckpointError, loop.NonFiniteLossError)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    console.setup()
    try:
        distributed.maybe_initialize()
        loop.train(_CONFIG.value, _WORKDIR.value)
    except _USER_ERRORS as e:
        print(f"gendl: error: {e}", file=sys.stderr)
        return 1
    except loop.Preempted as e:
        print(f"gendl: {e}", file=sys.stderr)
        return 143  # 128 + SIGTERM, what a scheduler expects from a preempted job
    return 0


def run():
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=cli.parse_flags)


if __name__ == "__main__":
    run()
