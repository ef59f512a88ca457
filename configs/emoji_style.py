"""The emoji style classifier: Google (class 0) vs Twitter (class 1) style, on every image of
<manual_dir>/emoji/google and <manual_dir>/emoji/twitter (a "labelled_folders" source: the
label is the folder), split by file name as configs/pix2pix.py (10% test, the same names).
Its features and decisions give the translation evaluator's style accuracy and FID/KID
(gendl/evaluation/style.py). The config lives in gendl/evaluation/classifier_config.py
(variant `emoji_style`) so that an installed gendl builds it on first need, once, in
$GENDL_CACHE_DIR/classifier/emoji_style (default ~/.cache/gendl/...).

Build it by hand beforehand (what the translation evaluator would otherwise do for you):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/emoji_style.py --workdir=$HOME/.cache/gendl/classifier/emoji_style
Test accuracy, from the run:
    GENDL_MANUAL_DIR=../shared/data python -m gendl.evaluate --workdir=$HOME/.cache/gendl/classifier/emoji_style
CPU smoke run (seconds; 32x32):
    GENDL_MANUAL_DIR=../shared/data python -m gendl.main --config=configs/emoji_style.py:smoke --workdir=/tmp/emoji_style_smoke
"""

from gendl.evaluation import classifier_config


def get_config(arg=None):
    return classifier_config.get_config(",".join(filter(None, ("emoji_style", arg))))
