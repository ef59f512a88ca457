"""The train and eval data of a config: named-feature batches from one or more streams.

The main stream is configured by `config.data` and its features keep their names ("image",
"label", ...). Each extra stream `config.data.streams.<s>` (same fields as config.data, any
left out taken from config.data) gives features named "<s>/<feature>" (e.g. "b/image").

Every stream has its own stateless `BatchSampler` (its own length, hence its own epochs), and
all are indexed by the same global batch number: batch k of the run is batch k of every
stream. Random ops (crops, flips) draw from ``np.random.default_rng([seed, stream, k,
process_index])``, so batch k is a pure function of the config and k, and a resumed run sees
exactly the batches (crops and flips included) of an uninterrupted one. The main stream's
sampler keeps the seed and the exact gather of the in-memory datasets of before streams
existed, so its batches are bitwise those of earlier versions.
"""

import hashlib

import ml_collections
import numpy as np

from gendl.config import ConfigError
from gendl.data import labelled as labelled_lib
from gendl.data import sampler as sampler_lib
from gendl.data import sources
from gendl.data.errors import DataError
from gendl.data.spec import DataSpec, Feature

MAIN = ""  # the main stream's name (its features have no prefix)
# The fields of config.data an extra stream inherits when it does not set them.
_INHERITED = ("name", "manual_dir", "data_dir", "source", "ops", "test_fraction")


class Stream:
    """One source's batches by global batch number: {feature: [count, host_batch, ...]}.

    The source has `ops` (parsed gendl.data.ops) and `read(indices, rng)` (see sources)."""

    def __init__(self, name: str, source, sampler: sampler_lib.BatchSampler, seed: int) -> None:
        self.name = name
        self.source = source
        self.sampler = sampler
        self.seed = seed
        self._stream_id = _stream_id(name)

    def get(self, batch_number: int, count: int = 1) -> dict:
        if not self.source.ops:  # nothing random: one read of all `count` batches, no rng
            index = np.stack([self.sampler.indices(batch_number + i) for i in range(count)])
            return self.source.read(index, None)
        parts = [self._one(batch_number + i) for i in range(count)]
        return {k: np.stack([p[k] for p in parts]) for k in parts[0]}

    def _one(self, k: int) -> dict:
        rng = np.random.default_rng([self.seed, self._stream_id, k, self.sampler.process_index])
        return self.source.read(self.sampler.indices(k), rng)


class Batches:
    """All streams of a run; `get` is what `Experiment.batch` calls.

    `sampler` is the main stream's (the data position older checkpoints store under "data").
    """

    def __init__(self, main, extra: dict) -> None:
        self.main = main  # a Stream, or labelled.WithLabelled around one
        self.extra = extra  # {stream name: Stream}
        self.sampler = main.sampler

    def get(self, batch_number: int, count: int = 1) -> dict:
        batch = dict(self.main.get(batch_number, count))
        for name, stream in self.extra.items():
            batch.update({f"{name}/{k}": v for k, v in stream.get(batch_number, count).items()})
        return batch

    def state_dict(self, next_batch_number: int) -> dict:
        """{stream name: sampler state} of the extra streams (the main one is stored apart)."""
        return {n: s.sampler.state_dict(next_batch_number) for n, s in self.extra.items()}

    def check_state(self, main_state: dict, streams_state: dict | None) -> int:
        """The restored next batch; DataError when any stream would not resume exactly."""
        next_batch = self.sampler.check_state(main_state)
        streams_state = streams_state or {}
        if set(streams_state) != set(self.extra):
            raise DataError(
                f"The checkpoint was written with the extra data streams "
                f"{sorted(streams_state) or 'none'}, but this config has "
                f"{sorted(self.extra) or 'none'} (config.data.streams). Resume with the "
                "original streams, or start a new --workdir."
            )
        for name, stream in self.extra.items():
            if stream.sampler.check_state(streams_state[name]) != next_batch:
                raise DataError(
                    f"The checkpoint's stream {name!r} stopped at another batch than the main "
                    "stream; the checkpoint is inconsistent. Resume from another checkpoint."
                )
        return next_batch


def build_train_data(config, process_index: int = 0, process_count: int = 1):
    """(Batches, DataSpec) of a config's train split, this host's share of every batch.

    The spec holds the main stream's features and the extra streams' as "<s>/<feature>"."""
    main_source = sources.build(config.data, config.data.split)
    main = _stream(MAIN, main_source, config.batch_size, config.seed, process_index, process_count)
    if config.data.get("num_labelled"):  # semi-supervised: a labelled batch every step too
        main = _with_labelled(config, main, process_index, process_count)
    extra = {}
    for name in sorted(config.data.get("streams", {})):
        cfg = stream_config(config, name)
        seed = int(np.random.default_rng([config.seed, _stream_id(name)]).integers(2**31))
        batch_size = int(cfg.get("batch_size") or config.batch_size)
        source = sources.build(cfg, cfg.get("split") or config.data.split)
        extra[name] = _stream(name, source, batch_size, seed, process_index, process_count)
    return Batches(main, extra), _spec(main_source.spec, extra)


def build_eval_data(config, split: str = "test", stream: str = MAIN):
    """The source of `split` of a stream (default: the main one), for evaluators: read it
    with `source.read(np.arange(i, j), rng)`; its `spec` describes the features. It applies
    `test_ops` instead of `ops` when the stream's config has them."""
    cfg = config.data if stream == MAIN else stream_config(config, stream)
    if cfg.get("test_ops") is not None:  # e.g. no random crops and flips when evaluating
        cfg = ml_collections.ConfigDict({**cfg.to_dict(), "ops": tuple(cfg.test_ops)})
    return sources.build(cfg, split)


def stream_config(config, name: str) -> ml_collections.ConfigDict:
    """config.data.streams.<name>, with the fields it leaves out taken from config.data."""
    streams = config.data.get("streams", {})
    if name not in streams or "/" in name or not name:
        raise ConfigError(
            f"There is no data stream {name!r} in config.data.streams (it has "
            f"{sorted(streams) or 'none'}); stream names are non-empty and contain no '/'."
        )
    cfg = ml_collections.ConfigDict(streams[name].to_dict())
    for key in _INHERITED:
        if key not in cfg and key in config.data:
            cfg[key] = config.data[key]
    return cfg


def _stream(name, source, batch_size, seed, process_index, process_count) -> Stream:
    sampler = sampler_lib.BatchSampler(
        len(source),
        batch_size,
        seed=seed,
        process_index=process_index,
        process_count=process_count,
    )
    return Stream(name, source, sampler, seed)


def _with_labelled(config, main: Stream, process_index, process_count):
    arrays = getattr(main.source, "arrays", None)
    if arrays is None or "label" not in arrays:
        raise ConfigError(
            "config.data.num_labelled (semi-supervised) needs a labelled in-memory source "
            "(config.data.source 'tfds_prepared' or 'arrays' with a 'label' array)."
        )
    return labelled_lib.WithLabelled(
        main,
        arrays["image"],
        arrays["label"],
        num_labelled=int(config.data.num_labelled),
        batch_size=int(config.data.get("labelled_batch_size") or config.batch_size),
        seed=config.seed,
        process_index=process_index,
        process_count=process_count,
    )


def _spec(main: DataSpec, extra: dict) -> DataSpec:
    features = dict(main.features)
    for name, stream in extra.items():
        features.update(
            {
                f"{name}/{k}": Feature(f.shape, f.dtype)
                for k, f in stream.source.spec.features.items()
            }
        )
    return DataSpec(features, main.num_examples, main.num_classes)


def _stream_id(name: str) -> int:
    """A stable number per stream name (0 for the main stream), for seeding its random ops."""
    if name == MAIN:
        return 0
    return int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:4], "big")
