"""A small labelled subset next to the full unlabelled data (semi-supervised learning).

`config.data.num_labelled` = N picks N / K examples of each of the K classes, a pure function
of the labels and the seed. Every train step then gets, besides its unlabelled batches, one
labelled batch from a second stateless `BatchSampler` over the subset, numbered by the step:
both streams are functions of (seed, step), so a resumed run sees exactly the same batches.
"""

import numpy as np

from gendl.config import ConfigError
from gendl.data import sampler as sampler_lib

# Mixed into the seed so the subset's choice and order are independent of the unlabelled
# stream's shuffles (which use [seed, epoch]).
_SUBSET_STREAM, _ORDER_STREAM = 7_001, 7_002


def labelled_subset(labels: np.ndarray, num_labelled: int, seed: int) -> np.ndarray:
    """Sorted indices of `num_labelled` examples, the same number from every class."""
    classes = np.unique(labels)
    per_class, remainder = divmod(num_labelled, len(classes))
    if remainder or per_class < 1:
        raise ConfigError(
            f"config.data.num_labelled={num_labelled} must be a positive multiple of the "
            f"number of classes ({len(classes)}) so every class gets as many labels. "
            f"Use e.g. {len(classes) * max(per_class, 1)}."
        )
    rng = np.random.default_rng([seed, _SUBSET_STREAM])
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ConfigError(
                f"Class {c} has {len(members)} examples, fewer than the {per_class} labelled "
                "ones config.data.num_labelled asks for. Use a smaller num_labelled."
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


class WithLabelled:
    """Unlabelled batches (all images) plus one labelled batch per train step.

    `get(batch_number, count)` is called with batch_number = step * count (see
    `Experiment.batch`), so the labelled batch number is the step."""

    def __init__(
        self,
        unlabelled: sampler_lib.BatchIterator,
        images,
        labels,
        *,
        num_labelled,
        batch_size,
        seed,
        process_index=0,
        process_count=1,
    ):
        index = labelled_subset(labels, num_labelled, seed)
        if batch_size > num_labelled:
            raise ConfigError(
                f"The labelled batch ({batch_size}) is larger than the labelled subset "
                f"(config.data.num_labelled={num_labelled}). Set config.data.labelled_batch_size "
                f"to at most {num_labelled}."
            )
        self.unlabelled = unlabelled
        self.sampler = unlabelled.sampler  # the checkpointed data position
        self.index = index
        self.labelled = sampler_lib.BatchIterator(
            images[index],
            labels[index],
            sampler_lib.BatchSampler(
                num_labelled,
                batch_size,
                seed=int(np.random.default_rng([seed, _ORDER_STREAM]).integers(2**31)),
                process_index=process_index,
                process_count=process_count,
            ),
        )

    def get(self, batch_number: int, count: int = 1) -> dict:
        batch = self.unlabelled.get(batch_number, count)
        lab = self.labelled.get(batch_number // count, 1)
        return {**batch, "labelled_image": lab["image"], "labelled_label": lab["label"]}
