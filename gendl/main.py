"""Trains a model from a config: `python -m gendl.main --config=configs/wgan_gp.py --workdir=DIR`.

Running the same command again continues from the workdir's latest checkpoint.
"""

from absl import app, flags
from ml_collections import config_flags

from gendl import cli
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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    distributed.maybe_initialize()
    loop.train(_CONFIG.value, _WORKDIR.value)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
