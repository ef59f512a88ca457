"""Input data: TFDS-prepared datasets read into memory, and deterministic host-sharded batches.

Importing this package does not import TFDS; `load_split` does, on first use.
"""

from gendl.data.sampler import BatchIterator, BatchSampler
from gendl.data.source import DataError, DataNotFoundError, load_split

__all__ = ["BatchIterator", "BatchSampler", "DataError", "DataNotFoundError", "load_split"]
