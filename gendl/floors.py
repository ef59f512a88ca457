"""The real-data floors of the sample-quality protocol (README, "Metric protocol"):

    python -m gendl.floors --dataset=mnist [--num_images=10000] [--extractor=classifier]

FID/KID/precision-recall of the first N test images against the first N training images, and
the Inception Score of real test and training images, in the extractor's features. Prints one
JSON line. Uses (and fills) the same classifier and reference-feature caches as the evaluators
(the classifier is built on first need).
"""

import json
import os

from absl import flags

from gendl import cli
from gendl.evaluation import extractors, prerequisites, reference
from gendl.training import loop

_DATASET = flags.DEFINE_string("dataset", "mnist", "TFDS name of the dataset.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 10_000, "Images per side.", lower_bound=1)
_EXTRACTOR = flags.DEFINE_string("extractor", "classifier", "Feature extractor.")


def main(argv):
    del argv
    manual_dir = os.environ.get("GENDL_MANUAL_DIR") or None
    for need in extractors.prerequisites_of(_EXTRACTOR.value, _DATASET.value, {}, manual_dir):
        prerequisites.ensure(need, loop.train)
    out = reference.real_data_floors(
        _DATASET.value, _NUM_IMAGES.value, _EXTRACTOR.value, manual_dir=manual_dir
    )
    print(json.dumps({"dataset": _DATASET.value, **out}))


if __name__ == "__main__":
    cli.run(main, "gendl.floors")
