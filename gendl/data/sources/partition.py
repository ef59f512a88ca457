"""Every count-th example of a source, from the index-th on (`config.data.partition` =
(index, count)): disjoint parts of one dataset for streams that must never see the same
example, such as CoGAN's two domains drawn from two halves of MNIST's training set."""

import numpy as np

from gendl.config import ConfigError
from gendl.data.spec import DataSpec


class Partition:
    def __init__(self, source, index: int, count: int) -> None:
        if count < 1 or not 0 <= index < count:
            raise ConfigError(
                f"config.data.partition=({index}, {count}) must be (index, count) with "
                "0 <= index < count, e.g. (0, 2) and (1, 2) for the two halves of a dataset."
            )
        self.source = source
        self.ops = source.ops
        self.examples = np.arange(index, len(source), count)
        if not len(self.examples):
            raise ConfigError(
                f"config.data.partition=({index}, {count}) leaves no examples of the "
                f"{len(source)} in the data: use a smaller count."
            )
        spec = source.spec
        self.spec = DataSpec(spec.features, len(self.examples), spec.num_classes)

    def __len__(self) -> int:
        return len(self.examples)

    def read(self, indices, rng: np.random.Generator) -> dict:
        return self.source.read(self.examples[np.asarray(indices)], rng)
