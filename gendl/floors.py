"""The real-data floors of the sample-quality protocol (README, "Metric protocol"):

    python -m gendl.floors --dataset=mnist [--num_images=10000] [--extractor=classifier]

FID/KID/precision-recall of the first N test images against the first N training images, and
the Inception Score of real test and training images, in the extractor's features. Prints one
JSON line. Uses (and fills) the same reference-feature cache as the evaluators.
"""

import json
import os
import sys

from absl import app, flags

from gendl import cli
from gendl.config import ConfigError
from gendl.data.source import DataError
from gendl.evaluation import reference
from gendl.monitoring import console

_DATASET = flags.DEFINE_string("dataset", "mnist", "TFDS name of the dataset.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 10_000, "Images per side.")
_EXTRACTOR = flags.DEFINE_string("extractor", "classifier", "Feature extractor.")


def main(argv):
    del argv
    console.setup()
    try:
        out = reference.real_data_floors(
            _DATASET.value,
            _NUM_IMAGES.value,
            _EXTRACTOR.value,
            manual_dir=os.environ.get("GENDL_MANUAL_DIR") or None,
        )
    except (ConfigError, DataError) as e:
        print(f"gendl.floors: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"dataset": _DATASET.value, **out}))
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=cli.parse_flags)
