"""A source over numpy arrays in memory: the prepared TFDS datasets, and users' own arrays."""

import numpy as np

from gendl.data import ops as ops_lib
from gendl.data.errors import DataError
from gendl.data.spec import DataSpec, Feature


class ArraySource:
    """Examples are rows of equally long arrays, one per feature (e.g. image uint8 [N, H, W, C]
    and label int [N]). `ops` (gendl.data.ops) apply to the uint8 [H, W, C] features; without
    ops a read is one gather per feature."""

    def __init__(self, features: dict, *, num_classes: int = 0, ops=()) -> None:
        lengths = {name: len(array) for name, array in features.items()}
        if len(set(lengths.values())) != 1:
            raise DataError(
                f"The arrays of one source must hold the same number of examples; got {lengths}. "
                "Pass one row per example in every array."
            )
        self.arrays = dict(features)
        self.num_classes = num_classes
        self.ops = ops_lib.parse(ops)
        self._length = next(iter(lengths.values()))
        self.spec = self._spec()

    def __len__(self) -> int:
        return self._length

    def read(self, indices, rng: np.random.Generator) -> dict:
        indices = np.asarray(indices)
        if not self.ops:
            return {name: _gathered(name, array, indices) for name, array in self.arrays.items()}
        examples = [self._example(int(i), rng) for i in indices.reshape(-1)]
        return {
            name: np.stack([e[name] for e in examples]).reshape(
                *indices.shape, *examples[0][name].shape
            )
            for name in examples[0]
        }

    def _example(self, i: int, rng) -> dict:
        example = {name: array[i] for name, array in self.arrays.items()}
        images = {k: v for k, v in example.items() if _is_image(v)}
        return {**example, **ops_lib.apply(self.ops, images, rng)}

    def _spec(self) -> DataSpec:
        first = self.read(np.zeros(1, np.int64), np.random.default_rng(0))
        features = {k: Feature(tuple(v.shape[1:]), str(v.dtype)) for k, v in first.items()}
        return DataSpec(features, len(self), self.num_classes)


def _gathered(name, array, indices):
    # Labels are int32 whatever they were stored as (as the model code expects).
    if name == "label":
        return array[indices].astype(np.int32, copy=False)
    return array[indices]


def _is_image(value) -> bool:
    return value.dtype == np.uint8 and value.ndim == 3
