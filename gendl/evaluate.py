"""Evaluates a trained run's latest checkpoint with its config's evaluators.

    python -m gendl.evaluate --workdir=runs/vae [--evals=likelihood] [--num_samples=5000]
    python -m gendl.evaluate --workdir=runs/wgan_gp --set=sample_quality.reference_split=train

Reads `<workdir>/config.json` (written by gendl.main), restores the newest readable
checkpoint, runs the evaluators, prints a table of the figures followed by one JSON line, and
writes the JSON to `<workdir>/eval_<step>.json`; pictures go to `<workdir>/samples/`.
Sample-quality evaluators need a trained feature classifier: built on first need, once per
dataset, in $GENDL_CACHE_DIR/classifier/<dataset> (gendl.evaluation.prerequisites).
"""

import json

from absl import flags, logging

from gendl import cli
from gendl.evaluation.workdir import evaluate, format_table

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir written by gendl.main.")
_EVALS = flags.DEFINE_list("evals", None, "Evaluators to run (default: all in the config).")
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", None, "Importance samples (likelihood).", lower_bound=1
)
_NUM_EXAMPLES = flags.DEFINE_integer("num_examples", None, "Test examples to use.", lower_bound=1)
_SET = flags.DEFINE_multi_string(
    "set", [], "Evaluator setting, e.g. --set=sample_quality.num_samples=1000 (repeatable)."
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    result = evaluate(
        _WORKDIR.value, _EVALS.value, _NUM_SAMPLES.value, _NUM_EXAMPLES.value, _SET.value
    )
    logging.info("%s", result)
    print(format_table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    cli.run(main, "gendl.evaluate")
