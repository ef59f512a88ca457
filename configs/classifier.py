"""gendl's domain classifier: the feature extractor of FID, KID, IS and precision/recall on
MNIST and Fashion-MNIST. The config itself is gendl/evaluation/classifier_config.py (in the
package, so an installed gendl can build the classifier an evaluator needs): see its setting
and accuracies there.

The sample-quality evaluators build the classifier they need on first use, once per dataset,
in `$GENDL_CACHE_DIR/classifier/<dataset>` (default ~/.cache/gendl/...). To build it
yourself beforehand:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/classifier.py --workdir=$HOME/.cache/gendl/classifier/mnist
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/classifier.py:fashion --workdir=$HOME/.cache/gendl/classifier/fashion_mnist
CPU smoke run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/classifier.py:smoke --workdir=/tmp/classifier_smoke
"""

from gendl.evaluation import classifier_config


def get_config(arg=None):
    return classifier_config.get_config(arg)
