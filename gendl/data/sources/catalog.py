"""Any dataset of the TFDS catalog by name (`config.data.source = "tfds_catalog"`), read per
batch through `tfds.data_source` (array_record random access), never loaded whole.

The catalog's builders encode images with TensorFlow, so this needs TensorFlow installed
(`pip install -e '.[tfds]'`); gendl's own datasets (mnist, fashion_mnist, cifar10) do not
(source "tfds_prepared"). Features kept: the numeric ones of an example (images, labels, ...);
`config.data.ops` apply to its uint8 [H, W, C] images.
"""

import importlib.util

import numpy as np

from gendl.data import ops as ops_lib
from gendl.data.errors import DataError
from gendl.data.spec import DataSpec, Feature


def require_tensorflow(name: str) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        raise DataError(
            f"Reading the TFDS catalog dataset {name!r} (config.data.source='tfds_catalog') "
            "needs TensorFlow, which TFDS uses to decode the catalog's images, and TensorFlow is "
            "not installed. Install it with `pip install -e '.[tfds]'` from the gendl checkout, "
            "or use source 'tfds_prepared' for mnist, fashion_mnist and cifar10 (no TensorFlow)."
        )


class CatalogSource:
    def __init__(self, name: str, split: str, *, data_dir=None, ops=()) -> None:
        require_tensorflow(name)
        import tensorflow_datasets as tfds

        self.ops = ops_lib.parse(ops)
        try:
            self.data = tfds.data_source(name, split=split, data_dir=data_dir or None)
        # TFDS raises DatasetNotFoundError, ValueError (unknown split) or download errors;
        # all of them mean the user must fix the name, the split or the network.
        except Exception as err:  # noqa: BLE001
            raise DataError(
                f"TFDS could not open the catalog dataset {name!r}, split {split!r}: {err}. "
                "Check config.data.name and config.data.split against the TFDS catalog "
                "(https://www.tensorflow.org/datasets/catalog), and that it can be downloaded "
                "or is already prepared in config.data.data_dir."
            ) from err
        features = self.data.dataset_info.features
        label = features["label"] if "label" in features else None
        self.num_classes = int(getattr(label, "num_classes", 0) or 0)  # ClassLabel has it
        self.spec = self._spec()

    def __len__(self) -> int:
        return len(self.data)

    def read(self, indices, rng: np.random.Generator) -> dict:
        indices = np.asarray(indices)
        records = self.data.__getitems__([int(i) for i in indices.reshape(-1)])
        examples = [self._example(record, rng) for record in records]
        return {
            k: np.stack([e[k] for e in examples]).reshape(*indices.shape, *examples[0][k].shape)
            for k in examples[0]
        }

    def _example(self, record: dict, rng) -> dict:
        numeric = {
            k: np.asarray(v)
            for k, v in record.items()
            if np.asarray(v).dtype.kind in "biuf"  # skip strings (file names, ids)
        }
        if "label" in numeric:
            numeric["label"] = numeric["label"].astype(np.int32)
        images = {k: v for k, v in numeric.items() if v.dtype == np.uint8 and v.ndim == 3}
        return {**numeric, **ops_lib.apply(self.ops, images, rng)}

    def _spec(self) -> DataSpec:
        first = self.read(np.zeros(1, np.int64), np.random.default_rng(0))
        features = {k: Feature(tuple(v.shape[1:]), str(v.dtype)) for k, v in first.items()}
        return DataSpec(features, len(self), self.num_classes)
