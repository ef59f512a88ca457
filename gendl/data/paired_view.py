"""The true pairs behind an unpaired translator's two streams, for scoring only.

An unpaired translator (CycleGAN, DualGAN) trains on two streams whose examples are drawn
independently (config.data = domain a, config.data.streams.b = domain b), so no pairing
reaches training. When both streams are image folders whose files correspond by name (the
emoji styles: the same emoji in Google's and Twitter's style), the test split still holds
true pairs: `test_pairs` reads the two folders as one "paired_folders" source, the pairing
used only to score translations against their true counterparts. Folder splits go by a hash
of the file name (gendl/data/sources/folder.py), so paired files fall in the same split of
both streams, and the pairs of the test split are exactly the test files of both.
"""

import ml_collections

from gendl.data import pipeline, sources
from gendl.data.errors import DataError

PAIR_NAMES = ("a", "b")


class NoTruePairs(DataError):
    """The two streams are not folders paired by file name (e.g. cycle_gan/horse2zebra)."""


def stream_of(feature: str) -> tuple:
    """'b/image' -> ('b', 'image'); 'image' -> (main stream, 'image')."""
    stream, _, name = feature.rpartition("/")
    return stream or pipeline.MAIN, name


def _stream_cfg(config, stream):
    return config.data if stream == pipeline.MAIN else pipeline.stream_config(config, stream)


def test_pairs(config, domains, split: str = "test"):
    """A source of the pairs of the domains' folders in `split`, features "a" and "b" (the
    domains in order), read with the main stream's test_ops (else its ops)."""
    folders = []
    for feature in domains:
        stream, name = stream_of(feature)
        cfg = _stream_cfg(config, stream)
        if cfg.get("source") != "folder" or name != "image":
            raise NoTruePairs(
                f"The domain {feature!r} does not come from an image folder (its stream's "
                f"source is {cfg.get('source')!r}), so its test images have no counterparts "
                "of the same file name to score translations against. Scoring against true "
                "pairs needs both domains as config.data.source='folder' streams whose "
                "folders pair files by name."
            )
        folders.append(cfg.get("path", ""))
    main = config.data
    ops = main.get("test_ops") if main.get("test_ops") is not None else main.get("ops", ())
    cfg = ml_collections.ConfigDict(
        {
            "source": "paired_folders",
            "paths": tuple(folders),
            "names": PAIR_NAMES,
            "manual_dir": main.get("manual_dir", ""),
            "test_fraction": main.get("test_fraction", 0.1),
            "ops": tuple(ops),
        }
    )
    return sources.build(cfg, split)


def test_images(config, feature: str):
    """The test source of the stream of one domain (its `test_split`, default "test"), read
    with that stream's test_ops: unpaired test images, e.g. cycle_gan/horse2zebra's testA."""
    stream, _ = stream_of(feature)
    split = _stream_cfg(config, stream).get("test_split", "test")
    return pipeline.build_eval_data(config, split, stream)
