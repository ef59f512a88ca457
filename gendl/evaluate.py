"""Evaluates a trained run's latest checkpoint with its config's evaluators.

    python -m gendl.evaluate --workdir=runs/vae [--evals=likelihood] [--num_samples=5000]
    python -m gendl.evaluate --workdir=runs/wgan_gp --set=sample_quality.reference_split=train

Reads `<workdir>/config.json` (written by gendl.main), restores the newest readable
checkpoint, runs the evaluators, prints a table of the figures followed by one JSON line, and
writes the JSON to `<workdir>/eval_<step>.json`; pictures go to `<workdir>/samples/`.
Sample-quality evaluators need a trained feature extractor: see configs/classifier.py.
"""

import json
import sys

from absl import app, flags, logging

from gendl import checkpointing, cli
from gendl.config import ConfigError
from gendl.data.source import DataError
from gendl.evaluation.workdir import evaluate, format_table
from gendl.monitoring import console

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by gendl.main.")
_EVALS = flags.DEFINE_list("evals", None, "Evaluators to run (default: all in the config).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "Importance samples (likelihood).")
_NUM_EXAMPLES = flags.DEFINE_integer("num_examples", None, "Test examples to use.")
_SET = flags.DEFINE_multi_string(
    "set", [], "Evaluator setting, e.g. --set=sample_quality.num_samples=1000 (repeatable)."
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    console.setup()
    try:
        result = evaluate(
            _WORKDIR.value, _EVALS.value, _NUM_SAMPLES.value, _NUM_EXAMPLES.value, _SET.value
        )
    except (ConfigError, DataError, checkpointing.CheckpointError) as e:
        print(f"gendl.evaluate: error: {e}", file=sys.stderr)
        return 1
    logging.info("%s", result)
    print(format_table(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=cli.parse_flags)
