"""Statistics that tell melodies from noise, computed alike for samples and test melodies:
  - pitch-class histogram of the note onsets (12 bins, C = 0);
  - note-length histogram (lengths in 16th notes, 1..16; longer notes in the last bin);
  - share of notes in key: per melody, the largest share of its onsets that one major scale
    (any of the 12; its relative minor has the same notes) holds; the mean over melodies with
    notes. Samples have no key signature, so the key is the best-fitting one for both.
Histograms are compared by total variation distance, 0.5 * sum |p - q| (0: the same, 1: disjoint).
"""

import numpy as np

from gendl.music import tokens as tok

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_LENGTH_BINS = 16
# scales[k, pc] = 1 when pitch class pc is in the major scale on k.
_SCALES = np.zeros((12, 12), np.float32)
for _k in range(12):
    _SCALES[_k, (_MAJOR + _k) % 12] = 1.0


def pitch_class_histogram(melodies) -> np.ndarray:
    tokens = np.asarray(melodies).reshape(-1)
    pitches = tokens[tokens >= 2].astype(np.int64) - 2 + tok.MIN_PITCH
    counts = np.bincount(pitches % 12, minlength=12).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def note_length_histogram(melodies) -> np.ndarray:
    lengths = [min(n.end - n.start, _LENGTH_BINS) for m in melodies for n in tok.decode(m)]
    counts = np.bincount(np.asarray(lengths, np.int64), minlength=_LENGTH_BINS + 1)[1:]
    counts = counts.astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def in_key_share(melodies) -> float:
    shares = []
    for m in np.asarray(melodies):
        m = m[m >= 2].astype(np.int64) - 2 + tok.MIN_PITCH
        if len(m):
            counts = np.bincount(m % 12, minlength=12).astype(np.float32)
            shares.append(float(np.max(_SCALES @ counts)) / len(m))
    return float(np.mean(shares)) if shares else 0.0


def total_variation(p, q) -> float:
    return 0.5 * float(np.sum(np.abs(np.asarray(p) - np.asarray(q))))


def compare(samples, reference) -> dict:
    """The sample statistics and their distances to the reference melodies'."""
    return {
        "pitch_class_tv": total_variation(
            pitch_class_histogram(samples), pitch_class_histogram(reference)
        ),
        "note_length_tv": total_variation(
            note_length_histogram(samples), note_length_histogram(reference)
        ),
        "in_key_share": in_key_share(samples),
        "in_key_share_reference": in_key_share(reference),
        "notes_per_melody": float(np.mean(np.sum(np.asarray(samples) >= 2, axis=1))),
        "notes_per_melody_reference": float(np.mean(np.sum(np.asarray(reference) >= 2, axis=1))),
    }
