"""A TFDS builder of melody windows (gendl.music): MusicVAE's training data from the music21
corpus, with plain tensor features (no TensorFlow), like gendl.data.builders.

Examples: `tokens` (uint8 [bars * 16], gendl.music.tokens' 90 classes) and `tune` (int32, the
tune's index in the parsing order), one per window of `bars` 4/4 bars starting on a bar line.
Split by tune, never by window: a tune is in "test" when the sha1 of its id puts it in the
first `test_fraction` (gendl.music.corpus.test_share), so its windows never meet training.

The tunes come from `<manual_dir>/melodies/` when that folder holds .abc, .xml, .mxl or
.musicxml files, and otherwise from the corpus that music21 installs with itself (Essen,
O'Neill's, Ryan's, Bach soprano lines, interleaved; see corpus.corpus_tunes). music21 parses
about 5-12 tunes a second, so `max_tunes` (0: all ~12,000) caps the tunes read; every
(bars, max_tunes, origin) combination is prepared once and cached like the other datasets.
"""

import dataclasses
import os
import pathlib
import time
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from gendl.data import builders
from gendl.data.errors import DataError
from gendl.music import corpus
from gendl.music import tokens as tok

NAME = "melodies"
_SCORE_SUFFIXES = (".xml", ".mxl", ".musicxml")
# Seconds between progress lines while parsing.
_PROGRESS_EVERY = 10.0


@dataclasses.dataclass(eq=False)
class MelodyConfig(tfds.core.BuilderConfig):
    bars: int = 2
    max_tunes: int = 0
    test_fraction: float = 0.1
    origin: str = "corpus"  # "corpus" (music21's) or "manual" (<manual_dir>/melodies/)


def builder_config(bars: int, max_tunes: int, test_fraction: float, origin: str):
    name = f"{origin}_{bars}bars_{max_tunes or 'all'}tunes_test{round(test_fraction * 1000)}"
    return MelodyConfig(
        name=name, bars=bars, max_tunes=max_tunes, test_fraction=test_fraction, origin=origin
    )


class MelodyBuilder(builders.OriginalFilesBuilder, skip_registration=True):
    name = NAME
    VERSION = tfds.core.Version("1.1.0")  # 1.1.0: no window holds a bar-long silence
    URLS: ClassVar[dict[str, str]] = {}

    def _info(self) -> tfds.core.DatasetInfo:
        length = self.builder_config.bars * tok.STEPS_PER_BAR
        return tfds.core.DatasetInfo(
            builder=self,
            description="Monophonic melody windows tokenised as MusicVAE (90 classes).",
            features=tfds.features.FeaturesDict(
                {
                    "tokens": tfds.features.Tensor(shape=(length,), dtype=np.uint8),
                    "tune": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            homepage="https://web.mit.edu/music21/",
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        folder = self._manual_folder(dl_manager) if cfg.origin == "manual" else None
        refs = folder_tunes(folder) if folder is not None else corpus.corpus_tunes()
        if cfg.max_tunes:
            refs = refs[: cfg.max_tunes]
        examples = {"train": [], "test": []}
        for index, (ref, tune_windows) in enumerate(parse_tunes(refs, cfg.bars)):
            split = "test" if corpus.test_share(ref.tune_id) < cfg.test_fraction else "train"
            examples[split].extend((index, tokens) for _, tokens in tune_windows)
        return {split: self._generate_examples(rows) for split, rows in examples.items()}

    def _generate_examples(self, rows):
        for i, (tune, tokens) in enumerate(rows):
            yield i, {"tokens": tokens, "tune": np.int32(tune)}


def folder_tunes(folder) -> list:
    """TuneRefs of the ABC and MusicXML files of a folder (sorted by name)."""
    refs = []
    for path in sorted(pathlib.Path(folder).iterdir()):
        if path.suffix == ".abc":
            refs.extend(corpus.abc_tunes(path, "manual"))
        elif path.suffix in _SCORE_SUFFIXES:
            refs.append(corpus.TuneRef(f"manual/{path.name}#1", str(path)))
    if not refs:
        raise DataError(
            f"The folder {folder} holds no .abc, .xml, .mxl or .musicxml files to read melodies "
            "from. Put the tunes there, or remove the folder to use music21's own corpus."
        )
    return refs


def parse_tunes(refs, bars: int):
    """Yields (TuneRef, windows) of every tune that gives windows, with a progress line."""
    start = last = time.monotonic()
    kept = windows = 0
    skipped = {}
    for i, ref in enumerate(refs, 1):
        try:
            tune_windows = corpus.windows(corpus.melody(corpus.parse(ref)), bars)
        except corpus.SkippedTune as why:
            reason = str(why).split(" (")[0]
            skipped[reason] = skipped.get(reason, 0) + 1
            tune_windows = []
        if tune_windows:
            kept += 1
            windows += len(tune_windows)
            yield ref, tune_windows
        now = time.monotonic()
        if now - last >= _PROGRESS_EVERY or i == len(refs):
            last = now
            rate = i / max(now - start, 1e-9)
            eta = (len(refs) - i) / rate
            logging.info(
                "melodies: parsed %d/%d tunes (%.1f tunes/s, %.0f s left): %d kept, %d "
                "windows of %d bars; skipped %s",
                i,
                len(refs),
                rate,
                eta,
                kept,
                windows,
                bars,
                dict(sorted(skipped.items(), key=lambda kv: -kv[1])[:4]) or "none",
            )


def origin(manual_dir) -> str:
    """ "manual" when <manual_dir>/melodies/ holds files, else "corpus"."""
    if manual_dir is None:
        return "corpus"
    folder = pathlib.Path(os.fspath(manual_dir)) / NAME
    return "manual" if folder.is_dir() and any(folder.iterdir()) else "corpus"
