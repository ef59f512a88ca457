"""Input data: sources (gendl.data.sources: gendl's prepared TFDS datasets, arrays, image
folders, the TFDS catalog), host-side ops, and deterministic host-sharded batches of named
features from one or more streams (gendl.data.pipeline).

Importing this package does not import TFDS; `load_split` does, on first use.
"""

from gendl.data.errors import DataError, DataNotFoundError
from gendl.data.sampler import BatchIterator, BatchSampler
from gendl.data.source import load_split
from gendl.data.spec import DataSpec, Feature

__all__ = [
    "BatchIterator",
    "BatchSampler",
    "DataError",
    "DataNotFoundError",
    "DataSpec",
    "Feature",
    "load_split",
]
