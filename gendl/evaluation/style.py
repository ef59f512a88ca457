"""Style scores of image translations, in the eyes of a gendl style classifier (the emoji
style classifier of configs/emoji_style.py: Google vs Twitter): the translation evaluator's
part that needs a classifier (gendl.evaluation.translation).

  style_accuracy           fraction of translations the classifier assigns to the target
                           style;
  identity_style_accuracy  the same of the inputs themselves (the baseline: ~0 for a good
                           classifier, since inputs are in the source style);
  target_style_accuracy    the same of the real targets (the ceiling: the classifier's own
                           accuracy on the target style);
  style_fid, style_kid (+ style_kid_std)
                           FID and KID (gendl.evaluation.sample_quality) between the
                           classifier's penultimate features of the translations and of the
                           real target-style test images; identity_style_fid/_kid: of the
                           inputs instead of the translations.

Config (config.evals.<name> of type "translation"): style_classifier (the classifier's
dataset name, e.g. "emoji_style"; "" = no style scores), style_classes (the translation's
image features in the classifier's class order, e.g. ("a", "b"): class 0 is the style of
feature "a"), classifier_workdir (default $GENDL_CACHE_DIR/classifier/<style_classifier>,
built there on first need), kid_subsets (100), kid_subset_size (1000; half the smaller set
when a set is smaller).
"""

import numpy as np

from gendl.config import ConfigError
from gendl.evaluation import extractors, sample_quality
from gendl.monitoring import images as images_lib


def prerequisites(exp, cfg) -> list:
    """The style classifier, when the evaluator asks for style scores and it is not built."""
    name = cfg.get("style_classifier", "")
    if not name:
        return []
    data = exp.config.data
    return extractors.prerequisites_of("classifier", name, cfg, data.manual_dir, data.data_dir)


class StyleScores:
    """Loads the classifier once; each evaluation: `reset()`, `add` per batch, `result()`."""

    def __init__(self, cfg, target_feature: str):
        self.name = cfg.get("style_classifier", "")
        classes = tuple(cfg.get("style_classes", ()))
        if target_feature not in classes:
            raise ConfigError(
                f"config.evals.<name>.style_classes={classes} must name the translation's "
                f"target feature {target_feature!r}: list the image features in the order of "
                f"the {self.name!r} classifier's classes, e.g. ('a', 'b')."
            )
        self.target_class = classes.index(target_feature)
        self.extractor = extractors.build("classifier", self.name, cfg)
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self.parts = {"": [], "identity_": [], "target": []}

    def add(self, inputs, translations, targets) -> None:
        """Images in [0, 1] (or uint8) [n, H, W, C] of one batch."""
        for key, images in (("identity_", inputs), ("", translations), ("target", targets)):
            features, logits = self.extractor(images_lib.to_uint8(np.asarray(images)))
            self.parts[key].append((features, np.argmax(logits, -1) == self.target_class))

    def result(self) -> dict:
        joined = {
            k: tuple(np.concatenate(column) for column in zip(*v, strict=True))
            for k, v in self.parts.items()
        }
        target_features, target_hits = joined["target"]
        out = {"target_style_accuracy": float(np.mean(target_hits))}
        for prefix in ("", "identity_"):
            features, hits = joined[prefix]
            out[f"{prefix}style_accuracy"] = float(np.mean(hits))
            if len(features) < 2:  # a covariance, and KID's unbiased MMD, need two images
                continue
            out[f"{prefix}style_fid"] = sample_quality.fid(features, target_features)
            kid, kid_std = sample_quality.kid(
                features,
                target_features,
                num_subsets=int(self.cfg.get("kid_subsets", 100)),
                subset_size=int(self.cfg.get("kid_subset_size", 1000)),
            )
            out[f"{prefix}style_kid"], out[f"{prefix}style_kid_std"] = kid, kid_std
        return out
