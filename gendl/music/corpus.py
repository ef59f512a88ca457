"""Melodies from scores parsed with music21: its bundled corpus (Essen folk songs, O'Neill's
1850, Ryan's Mammoth Collection, the Bach chorales' soprano lines) or any MusicXML / ABC file.

What is kept of a score, and how:
  - the melody: the part named soprano, else the part with the highest mean pitch; chords
    give their top note, ties are merged, grace notes dropped (gendl.music.tokens.monophonic);
  - time: offsets quantised to 16th notes by rounding (4 steps per quarter note);
  - metre: duple metres whose bar is 2, 4 or 8 quarter notes long (2/4, 4/4 and C, 2/2 and
    cut C, 4/2, 4/8) are re-barred into 4/4 bars of 16 steps from the first full bar (a
    pick-up before it is dropped); tunes in any other metre (3/4, 6/8, 9/8, 12/8, 5/4...),
    or that change to one, are skipped, since their bars do not fill MusicVAE's 16 steps;
  - pitch: tunes with a note outside the piano range (MIDI 21..108) are skipped.
"""

import dataclasses
import fractions
import hashlib
import pathlib
import re

import numpy as np

from gendl.music import tokens as tok

# Collection name -> music21 corpus composer/collection name.
COLLECTIONS = {
    "essen": "essenFolksong",
    "oneills": "oneills1850",
    "ryans": "ryansMammoth",
    "bach": "bach",
}
# Bar lengths in quarter notes that re-bar into 16-step bars.
_DUPLE_BARS = (2.0, 4.0, 8.0)


class SkippedTune(Exception):
    """A tune the builder leaves out; the message says why (counted in the progress line)."""


@dataclasses.dataclass(frozen=True)
class TuneRef:
    """Where one tune is: a file, and for an ABC file of many tunes its text."""

    tune_id: str  # "<collection>/<file name>#<number>": what the split hashes
    path: str
    abc_text: str = ""  # one tune of a multi-tune ABC file; "" = parse the whole file


def test_share(tune_id: str) -> float:
    """A number in [0, 1) fixed by the tune's id: tunes below the test fraction are test."""
    digest = hashlib.sha1(tune_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def corpus_tunes(collections=tuple(COLLECTIONS)) -> list:
    """TuneRefs of the installed music21 corpus, interleaved across collections (one of each
    in turn), so that a cap on the number of tunes keeps every collection."""
    from music21 import corpus

    per_collection = []
    for name in collections:
        refs = []
        for path in sorted(corpus.getComposer(COLLECTIONS[name]), key=str):
            path = pathlib.Path(path)
            if path.suffix == ".abc":
                refs.extend(abc_tunes(path, name))
            elif path.suffix in (".mxl", ".xml", ".musicxml", ".krn"):
                refs.append(TuneRef(f"{name}/{path.name}#1", str(path)))
        per_collection.append(refs)
    interleaved = []
    for i in range(max(map(len, per_collection), default=0)):
        interleaved.extend(refs[i] for refs in per_collection if i < len(refs))
    return interleaved


def abc_tunes(path, collection: str) -> list:
    """One TuneRef per `X:` tune of an ABC file (cheap: the text is split, not parsed)."""
    path = pathlib.Path(path)
    text = path.read_text(encoding="latin-1")
    chunks = re.split(r"(?m)^(?=X:)", text)
    refs = []
    for chunk in chunks:
        match = re.match(r"X:\s*(\d+)", chunk)
        if match:
            refs.append(TuneRef(f"{collection}/{path.name}#{match.group(1)}", str(path), chunk))
    return refs


def parse(ref: TuneRef):
    """The music21 score of a tune; SkippedTune when music21 cannot read it."""
    from music21 import converter

    try:
        if ref.abc_text:
            return converter.parse(ref.abc_text, format="abc")
        return converter.parse(ref.path)
    # music21 raises many types on a malformed file (its own exceptions, ValueError,
    # IndexError...); every one means the same: this tune cannot be read.
    except Exception as err:  # noqa: BLE001
        raise SkippedTune(f"music21 cannot read it ({type(err).__name__})") from err


def melody(score) -> list:
    """The monophonic melody of a music21 score as Notes in steps, step 0 = the first full
    bar's downbeat; SkippedTune for metres and ranges MusicVAE's grid cannot hold."""
    part = _melody_part(score)
    _check_metre(part)
    bar_start = _first_full_bar(part)
    part = part.stripTies(inPlace=False)
    notes = []
    for element in part.flatten().notes:
        if element.duration.isGrace or element.quarterLength <= 0:
            continue
        pitches = [p.midi for p in element.pitches]
        if not pitches:
            continue
        start = _steps(element.offset - bar_start)
        end = _steps(element.offset + element.quarterLength - bar_start)
        if start < 0:  # the pick-up
            continue
        pitch = max(pitches)
        if not tok.in_range(pitch):
            raise SkippedTune(f"pitch {pitch} is outside the piano range 21..108")
        notes.append(tok.Note(start, end, pitch))
    notes = tok.monophonic(notes)
    if not notes:
        raise SkippedTune("no notes")
    return notes


def windows(notes, bars: int, min_onsets: int = 2):
    """(start step, tokens) of every window of `bars` 4/4 bars starting on a bar line (hop:
    one bar) with at least `min_onsets` notes starting in it and no silence of a bar or more.

    As magenta's MusicVAE data: its melody extractor ends a melody at a gap of one bar
    (`gap_bars=1`) and its converter slices only whole windows out of a melody, so a window
    never holds a bar-long rest, nor runs past the tune's end by a bar (a 10-bar tune gives
    no 16-bar window instead of one that is 6 bars of silence)."""
    length = bars * tok.STEPS_PER_BAR
    end = max(n.end for n in notes)
    out = []
    for start in range(0, max(end - length, 0) + tok.STEPS_PER_BAR, tok.STEPS_PER_BAR):
        tokens = tok.encode(notes, start, length)
        if tok.onsets(tokens) < min_onsets:
            continue
        if longest_silence(notes, start, length) < tok.STEPS_PER_BAR:
            out.append((start, tokens))
    return out


def longest_silence(notes, start: int, length: int) -> int:
    """The longest run of steps in [start, start + length) where no note sounds."""
    sounding = np.zeros(length, bool)
    for n in notes:
        sounding[max(n.start - start, 0) : max(min(n.end - start, length), 0)] = True
    runs = np.diff(np.flatnonzero(np.concatenate([[True], sounding, [True]]))) - 1
    return int(runs.max())


def _steps(quarters) -> int:
    return int(round(float(fractions.Fraction(quarters)) * tok.STEPS_PER_QUARTER))


def _melody_part(score):
    parts = list(getattr(score, "parts", []) or [])
    if not parts:
        return score
    for part in parts:
        name = f"{part.partName or ''} {part.id or ''}".lower()
        if "soprano" in name:
            return part
    return max(parts, key=_mean_pitch)


def _mean_pitch(part) -> float:
    pitches = [p.midi for n in part.flatten().notes for p in n.pitches]
    return sum(pitches) / len(pitches) if pitches else -1.0


def _check_metre(part) -> None:
    signatures = list(part.recurse().getElementsByClass("TimeSignature"))
    if not signatures:
        raise SkippedTune("no time signature")
    for ts in signatures:
        bar = float(ts.barDuration.quarterLength)
        if bar not in _DUPLE_BARS or ts.numerator % 2 or ts.numerator > 4:
            raise SkippedTune(f"metre {ts.ratioString} (only duple metres re-bar into 4/4)")


def _first_full_bar(part) -> float:
    """The offset (quarter notes) of the first bar that is not a pick-up."""
    for measure in part.getElementsByClass("Measure"):
        if not measure.paddingLeft:
            return float(measure.offset)
    return 0.0
