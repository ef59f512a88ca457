"""Deterministic, stateless, host-sharded batches.

Global batch ``k`` is a pure function of (seed, k): epoch ``k // batches_per_epoch`` shuffles
the dataset with ``np.random.default_rng([seed, epoch])`` and the batch is a contiguous slice of
that permutation. So the data position is just the batch number: resuming at batch ``k``
reproduces exactly the batches of an uninterrupted run, and every host computes the same global
batch and loads only its own contiguous part of it.
"""

import numpy as np

from gendl.data.errors import DataError

# Keys of `BatchSampler.state_dict` that must match for a resumed run to see the same batches.
# process_count is stored but may change: the global batches stay the same.
_STATE_KEYS = ("seed", "num_examples", "global_batch_size")


class BatchSampler:
    """Which example indices this host loads for each global batch number."""

    def __init__(
        self,
        num_examples: int,
        global_batch_size: int,
        *,
        seed: int,
        process_index: int = 0,
        process_count: int = 1,
    ) -> None:
        _check_sizes(num_examples, global_batch_size, seed, process_index, process_count)
        self.num_examples = num_examples
        self.global_batch_size = global_batch_size
        self.seed = seed
        self.process_index = process_index
        self.process_count = process_count
        # The remainder of each epoch is dropped so that all batches have the same shape.
        self.batches_per_epoch = num_examples // global_batch_size
        self.host_batch_size = global_batch_size // process_count
        self._epoch = -1
        self._permutation = np.empty(0, np.int64)

    def epoch(self, batch_number: int) -> int:
        """The epoch that global batch ``batch_number`` belongs to."""
        return batch_number // self.batches_per_epoch

    def indices(self, batch_number: int) -> np.ndarray:
        """Read-only indices [host_batch_size] that this host loads for global batch k."""
        if batch_number < 0:
            raise ValueError(f"batch_number must be >= 0, got {batch_number}")
        epoch, j = divmod(batch_number, self.batches_per_epoch)
        start = j * self.global_batch_size + self.process_index * self.host_batch_size
        return self._epoch_permutation(epoch)[start : start + self.host_batch_size]

    def state_dict(self, next_batch_number: int) -> dict[str, int]:
        """What a checkpoint stores to resume the data stream at ``next_batch_number``."""
        return {
            "next_batch": int(next_batch_number),
            "seed": self.seed,
            "num_examples": self.num_examples,
            "global_batch_size": self.global_batch_size,
            "process_count": self.process_count,
        }

    def check_state(self, state: dict) -> int:
        """Returns the restored ``next_batch``; raises DataError if resuming would not reproduce
        the batches of the original run (different seed, dataset size or global batch size)."""
        missing = [key for key in ("next_batch", *_STATE_KEYS) if key not in state]
        if missing:
            raise DataError(f"The checkpoint's data state lacks {', '.join(missing)}: {state}")
        changed = [
            f"{key} {int(state[key])} -> {getattr(self, key)}"
            for key in _STATE_KEYS
            if int(state[key]) != getattr(self, key)
        ]
        if changed:
            raise DataError(
                "The checkpoint was written with different data settings "
                f"({'; '.join(changed)}), so resuming at batch {int(state['next_batch'])} would "
                "not reproduce the batches of the original run. Restore the original settings, "
                "or start a new run."
            )
        return int(state["next_batch"])

    def _epoch_permutation(self, epoch: int) -> np.ndarray:
        # Batches are consumed in order, so caching only the current epoch suffices.
        if epoch != self._epoch:
            permutation = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
            permutation.flags.writeable = False  # Callers get views of the cache.
            self._permutation, self._epoch = permutation, epoch
        return self._permutation


class BatchIterator:
    """Gathers this host's batches from in-memory arrays, by global batch number."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, sampler: BatchSampler) -> None:
        if len(images) != len(labels) or len(images) != sampler.num_examples:
            raise ValueError(
                f"{len(images)} images, {len(labels)} labels and a sampler over "
                f"{sampler.num_examples} examples must agree"
            )
        self.images = images
        self.labels = labels
        self.sampler = sampler

    def get(self, batch_number: int, count: int = 1) -> dict[str, np.ndarray]:
        """Batches ``batch_number .. batch_number + count - 1`` stacked: image uint8
        [count, b, H, W, C] as stored, label int32 [count, b] (b = host batch size).

        Images stay uint8 here: the train step scales them on the device (see
        `gendl.data.sampler.to_float`), which moves a quarter of the bytes to the device and
        keeps float conversion off the host, whose cores the step itself is using.

        ``count`` > 1 serves train steps that consume several real batches at once (a GAN's
        critic steps); the next call then starts at ``batch_number + count``.
        """
        index = np.stack([self.sampler.indices(batch_number + i) for i in range(count)])
        return {
            "image": self.images[index],
            "label": self.labels[index].astype(np.int32, copy=False),
        }


def to_float(images):
    """uint8 pixels -> float32 in [0, 1]; dividing in float32 keeps 255 exactly 1.0. Works on
    numpy and jax arrays alike, so host and device give bitwise the same values."""
    return images.astype("float32") / 255.0


def _check_sizes(
    num_examples: int, global_batch_size: int, seed: int, process_index: int, process_count: int
) -> None:
    if global_batch_size <= 0:
        raise DataError(f"global_batch_size must be positive, got {global_batch_size}")
    if num_examples < global_batch_size:
        raise DataError(
            f"The dataset has {num_examples} examples, fewer than one global batch of "
            f"{global_batch_size}: no full batch can be formed. Use a smaller batch size."
        )
    if seed < 0:
        raise DataError(f"seed must be >= 0 (numpy seeds are non-negative), got {seed}")
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} is not in [0, {process_count})")
    if global_batch_size % process_count:
        raise DataError(
            f"The global batch size {global_batch_size} is not divisible by the number of "
            f"processes {process_count}: each host must load an equal share. Use a batch size "
            f"that is a multiple of {process_count}."
        )
