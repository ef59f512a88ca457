"""Monophonic melodies on a 16th-note grid and their tokens, in magenta's MusicVAE convention
(`MelodyOneHotEncoding` over the piano range, min_pitch 21, max_pitch 108): 90 classes,

    0 = no event (the previous note, or silence, goes on),
    1 = note off (the sounding note ends here; silence follows),
    2 + (pitch - 21) = a new note of MIDI pitch 21 (A0) .. 108 (C8), ending the previous one.

A melody is a list of `Note(start, end, pitch)` in steps (16th notes, 4 per quarter note, 16
per 4/4 bar). A note that reaches the end of a window simply stops there.
"""

import dataclasses

import numpy as np

NO_EVENT, NOTE_OFF = 0, 1
MIN_PITCH, MAX_PITCH = 21, 108
NUM_CLASSES = 2 + MAX_PITCH - MIN_PITCH + 1  # 90
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16


@dataclasses.dataclass(frozen=True)
class Note:
    start: int  # step of the onset
    end: int  # step after the last sounding step (> start)
    pitch: int  # MIDI pitch


def pitch_token(pitch: int) -> int:
    return 2 + int(pitch) - MIN_PITCH


def token_pitch(token: int) -> int:
    return int(token) - 2 + MIN_PITCH


def in_range(pitch: int) -> bool:
    return MIN_PITCH <= pitch <= MAX_PITCH


def monophonic(notes) -> list:
    """One note at a time: at equal onsets the highest pitch wins (the tune's top line), and
    a note is cut where the next one starts. Notes of zero length are dropped."""
    by_start = {}
    for n in notes:
        if n.end > n.start and (n.start not in by_start or n.pitch > by_start[n.start].pitch):
            by_start[n.start] = n
    ordered = [by_start[s] for s in sorted(by_start)]
    out = []
    for i, n in enumerate(ordered):
        end = min(n.end, ordered[i + 1].start) if i + 1 < len(ordered) else n.end
        out.append(Note(n.start, end, n.pitch))
    return out


def encode(notes, start: int, length: int) -> np.ndarray:
    """Tokens (uint8 [length]) of the monophonic `notes` in steps [start, start + length)."""
    tokens = np.full(length, NO_EVENT, np.uint8)
    for n in notes:
        if n.end <= start or n.start >= start + length:
            continue
        onset = n.start - start
        if onset >= 0:
            tokens[onset] = pitch_token(n.pitch)
        off = n.end - start
        if 0 <= off < length and tokens[off] == NO_EVENT:
            tokens[off] = NOTE_OFF
    return tokens


def decode(tokens) -> list:
    """The notes of a token sequence (steps from 0); the inverse of `encode` for melodies
    whose notes start inside the window."""
    notes, current = [], None
    for t, token in enumerate(np.asarray(tokens).tolist()):
        if token == NO_EVENT:
            continue
        if current is not None:
            notes.append(Note(current[0], t, current[1]))
            current = None
        if token >= 2:
            current = (t, token_pitch(token))
    if current is not None:
        notes.append(Note(current[0], len(tokens), current[1]))
    return notes


def onsets(tokens) -> int:
    return int(np.sum(np.asarray(tokens) >= 2))
