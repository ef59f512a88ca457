"""How well the two halves of generated pairs agree (CoGAN; predict function `sample_pairs`).

Pixel agreement (Liu & Tuzel 2016, sec. 5): the domain transform of the model's config
(gendl/data/derived_domains.py, the same function that made its domain-2 training images) is
applied to the generated domain-1 image; it and the generated domain-2 image are thresholded
at `threshold` (0.5), and the agreement of a pair is the fraction of pixels where the two
binary images agree. Reported: the mean over pairs, and the fraction of pairs agreeing on at
least 95% of their pixels. Most pixels are background in both halves, so unrelated halves
agree on most pixels too: `pixel_agreement_unpaired_real` is the chance level, the mean
agreement of the transforms of real test digits paired with the transform of another random
test digit (0.806 for MNIST edges; a blank domain-2 image would score 0.871 there).

Class agreement: gendl's MNIST classifier (extractor "classifier", built on first need) labels
both halves; the fraction of pairs whose labels match. The classifier knows digits, not their
transforms: a negative is read through the transform's inverse (1 - x, a digit again); edges
have no inverse, so the edge half is classified as it is, and the evaluator also reports the
classifier's accuracy on the real test digits' edge images (`classifier_accuracy_real_b`),
the ceiling that says how far the class agreement of edge halves can be trusted.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.data import derived_domains, source
from gendl.evaluation import extractors
from gendl.evaluation import predict as predict_lib
from gendl.monitoring import images as images_lib


def pixel_agreement(transformed_a, b, threshold: float = 0.5):
    """[n] fraction of pixels on which (transformed_a > threshold) == (b > threshold)."""
    a_on = jnp.asarray(transformed_a) > threshold
    b_on = jnp.asarray(b) > threshold
    return jnp.mean((a_on == b_on).astype(jnp.float32), axis=tuple(range(1, a_on.ndim)))


def class_agreement(logits_a, logits_b) -> float:
    return float(np.mean(np.argmax(logits_a, -1) == np.argmax(logits_b, -1)))


def unpaired_agreement(transformed, threshold: float = 0.5, seed: int = 0) -> float:
    """Mean pixel agreement of each transformed real image with a random other one's."""
    perm = np.random.default_rng(seed).permutation(len(transformed))
    return float(np.mean(pixel_agreement(transformed, np.asarray(transformed)[perm], threshold)))


class PairAgreement:
    """config.evals.<name>: type "pair_agreement", num_samples (10,000), batch_size (500),
    threshold (0.5), seed, classifier (True: class agreement too), classifier_workdir."""

    NEEDS = ("sample_pairs", "sample_noise")

    @staticmethod
    def prerequisites(exp, cfg):
        if not cfg.get("classifier", True):
            return []
        data = exp.config.data
        return extractors.prerequisites_of(
            "classifier", data.name, cfg, data.manual_dir, data.data_dir
        )

    def __init__(self, exp, cfg):
        pairs, self.sample_noise = predict_lib.of(exp).require(
            "pair_agreement evaluator", *self.NEEDS
        )
        self.transform, self.inverse = derived_domains.get(
            exp.config.objective.get("transform", "edges")
        )
        self.threshold = float(cfg.get("threshold", 0.5))
        self.n = int(cfg.get("num_samples", 10_000))
        self.batch_size = int(cfg.get("batch_size", 500))
        self.seed = int(cfg.get("seed", 0))

        def scores(variables, noise):
            a, b = pairs(variables, noise)
            agreement = pixel_agreement(self.transform(a), b, self.threshold)
            return agreement, a, self.readable(b)

        self._scores = jax.jit(scores)
        data = exp.config.data
        images, labels = source.load_split(
            data.name, "test", manual_dir=data.manual_dir or None, data_dir=data.data_dir or None
        )
        self.unpaired = unpaired_agreement(
            self.transform(images.astype(np.float32) / 255.0), self.threshold, self.seed
        )
        self.extractor, self.real_b_accuracy = None, None
        if cfg.get("classifier", True):
            self.extractor = extractors.build("classifier", data.name, cfg)
            real_b = self.readable(self.transform(images.astype(np.float32) / 255.0))
            _, logits = self._classify(real_b)
            self.real_b_accuracy = float(np.mean(np.argmax(logits, -1) == labels))

    def readable(self, b):
        """Domain-2 images as the digit classifier should see them (through the inverse)."""
        return b if self.inverse is None else self.inverse(b)

    def _classify(self, images):
        # Quantised to uint8 as the extractor expects (and as sample_quality's samples are).
        return self.extractor(images_lib.to_uint8(np.asarray(images)))

    def run(self, variables):
        agreements, logits_a, logits_b = [], [], []
        for i, start in enumerate(range(0, self.n, self.batch_size)):
            count = min(self.batch_size, self.n - start)
            key = jax.random.fold_in(jax.random.key(self.seed), i)
            # Always a full batch: one compiled program; the tail is cut off afterwards.
            agreement, a, b = self._scores(variables, self.sample_noise(key, self.batch_size))
            agreements.append(np.asarray(agreement)[:count])
            if self.extractor is not None:
                logits_a.append(self._classify(np.asarray(a)[:count])[1])
                logits_b.append(self._classify(np.asarray(b)[:count])[1])
        agreement = np.concatenate(agreements)
        out = {
            "pixel_agreement": float(agreement.mean()),
            "pairs_agreeing_95": float(np.mean(agreement >= 0.95)),
            "pixel_agreement_unpaired_real": self.unpaired,
        }
        if self.extractor is not None:
            out["class_agreement"] = class_agreement(
                np.concatenate(logits_a), np.concatenate(logits_b)
            )
            out["classifier_accuracy_real_b"] = self.real_b_accuracy
        return out, {}
