"""The training config of gendl's domain classifier, the feature extractor of FID, KID, IS and
precision/recall on MNIST and Fashion-MNIST (the role Inception-v3 plays on ImageNet-like
data; its features are the 128-unit penultimate layer, its softmax the class probabilities).

It lives in the package, not in configs/, so that an installed gendl can build the classifier
an evaluator needs on first use (gendl.evaluation.prerequisites); configs/classifier.py is
this config for the command line.

Setting: 3x3 conv 32, 2x2 max-pool, 3x3 conv 64, max-pool, dense 128 (ReLU), dropout 0.5,
Adam(1e-3, cosine decay to 0), batch 128, random shifts of up to 2 pixels, 8,000 steps (17
epochs): 99.42% MNIST test accuracy. Fashion-MNIST (`:fashion`): horizontal flips instead of
shifts, 91.79% test accuracy (both measured 2026-11-22).

`:emoji_style` (configs/emoji_style.py): the style classifier of the emoji translation
metrics (gendl.evaluation.style): Google (class 0) vs Twitter (class 1) emoji, every image
of <manual_dir>/emoji/google and <manual_dir>/emoji/twitter (source "labelled_folders",
composited onto white, 64x64), split by file name exactly as the pix2pix pairs (10% test), so
the test emoji of translation are never trained on in either style. Three conv stages (32,
64, 128), horizontal flips, 1,000 steps of batch 64 (~10 epochs).
"""

import ml_collections

from gendl import config as config_lib

# The variant that makes the classifier of a dataset; other datasets get the MNIST setting.
VARIANTS = {"mnist": None, "fashion_mnist": "fashion", "emoji_style": "emoji_style"}
# The emoji styles in class order: the style classifier's class k is STYLES[k].
EMOJI_STYLES = ("google", "twitter")


def get_config(arg=None):
    c = config_lib.base_config()
    c.total_steps = 8000
    c.batch_size = 128
    c.data.name = "mnist"

    c.model.name = "conv_classifier"
    c.model.num_classes = 10
    c.model.channels = (32, 64)
    c.model.hidden = 128
    c.model.dropout = 0.5

    c.objective.name = "classifier"
    c.objective.shift = 2
    c.objective.flip = False

    c.optimizer.learning_rate = 1e-3
    # Cosine decay to 0 at the last step: worth ~0.2% test accuracy over a constant rate.
    c.optimizer.schedule = "cosine"
    c.checkpoint.every_steps = 1000
    c.log.every_steps = 100
    c.evals.accuracy = dict(
        type="classification", every_steps=0, num_examples=10_000, batch_size=500
    )

    def fashion(c):
        c.data.name = "fashion_mnist"
        c.objective.shift = 0
        c.objective.flip = True

    def emoji_style(c):
        c.data.name = "emoji_style"
        c.data.source = "labelled_folders"
        c.data.paths = tuple(f"{{manual_dir}}/emoji/{style}" for style in EMOJI_STYLES)
        c.data.names = EMOJI_STYLES
        c.data.ops = ("alpha_white", "resize:64,64")
        c.total_steps = 1000
        c.batch_size = 64
        c.model.num_classes = len(EMOJI_STYLES)
        c.model.channels = (32, 64, 128)
        # Zero-padded shifts would draw black borders on the white background: flips only.
        c.objective.shift = 0
        c.objective.flip = True
        c.checkpoint.every_steps = 500

    def smoke(c):
        config_lib.smoke(c)
        if c.data.source == "labelled_folders":
            c.data.ops = ("alpha_white", "resize:32,32")

    variants = {"smoke": smoke, "fashion": fashion, "emoji_style": emoji_style}
    return config_lib.apply_variant(c, arg, variants)


def for_dataset(dataset, manual_dir="", data_dir="", overrides=None) -> ml_collections.ConfigDict:
    """The classifier config of `dataset`, reading the data where the evaluated run reads it.

    `overrides`: a nested dict merged into the config last (config.evals.<name>.
    classifier_overrides; tests use it to build a tiny classifier)."""
    c = get_config(VARIANTS.get(dataset))
    c.data.name = dataset
    c.data.manual_dir, c.data.data_dir = manual_dir or "", data_dir or ""
    _merge(c, overrides or {}, "classifier_overrides")
    return c


def _merge(c, overrides, where):
    for key, value in dict(overrides).items():
        if key not in c:
            raise config_lib.ConfigError(
                f"{where}.{key} is not a field of the classifier config "
                "(gendl/evaluation/classifier_config.py): fix or remove it."
            )
        if isinstance(c[key], ml_collections.ConfigDict):
            _merge(c[key], value, f"{where}.{key}")
        else:
            c[key] = value
