"""What the data gives per example, which is all that models and objectives learn about it.

A `DataSpec` names the features of one example (shape without the batch dimension, numpy dtype
name) plus the dataset's size and number of classes. Models size their networks from it
(`models.build(config.model, spec)`), objectives read it (`Objective.spec`).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Feature:
    shape: tuple
    dtype: str


@dataclasses.dataclass(frozen=True)
class DataSpec:
    features: dict  # feature name -> Feature
    num_examples: int
    num_classes: int = 0  # 0: no labels (or unknown)

    @property
    def image_shape(self) -> tuple:
        return tuple(self.features["image"].shape)

    @classmethod
    def of_images(cls, image_shape, num_examples: int = 0, num_classes: int = 0) -> "DataSpec":
        """The spec of an image dataset (uint8 `image`, plus an int32 `label` when classes > 0)."""
        features = {"image": Feature(tuple(image_shape), "uint8")}
        if num_classes:
            features["label"] = Feature((), "int32")
        return cls(features, num_examples, num_classes)
