"""Piano-roll pictures of token melodies: time left to right (4 px per 16th note), pitch bottom
to top (3 px per semitone), a darker cell at each onset, grey bar lines; white background.
Melodies drawn together share one pitch range, so `images.make_grid` can tile them."""

import numpy as np

from gendl.music import tokens as tok

STEP_PX, PITCH_PX = 4, 3
_NOTE = np.array([0.25, 0.45, 0.85], np.float32)
_ONSET = np.array([0.05, 0.15, 0.45], np.float32)
_BAR = np.array([0.75, 0.75, 0.75], np.float32)
_BEAT = np.array([0.92, 0.92, 0.92], np.float32)


def pitch_range(melodies, margin: int = 2) -> tuple:
    """(lowest, highest) MIDI pitch drawn: the melodies' own, widened by `margin`, at least
    an octave."""
    pitches = [n.pitch for tokens in melodies for n in tok.decode(tokens)]
    lo, hi = (min(pitches), max(pitches)) if pitches else (60, 72)
    lo, hi = lo - margin, hi + margin
    if hi - lo < 12:
        lo, hi = lo - (12 - (hi - lo)) // 2, lo + 12
    return max(lo, tok.MIN_PITCH), min(hi, tok.MAX_PITCH)


def draw(tokens, lo: int, hi: int) -> np.ndarray:
    """One melody as float32 [H, W, 3] in [0, 1]."""
    steps = len(tokens)
    rows = hi - lo + 1
    image = np.ones((rows * PITCH_PX, steps * STEP_PX, 3), np.float32)
    for t in range(0, steps, tok.STEPS_PER_QUARTER):
        colour = _BAR if t % tok.STEPS_PER_BAR == 0 else _BEAT
        image[:, t * STEP_PX] = colour
    for n in tok.decode(tokens):
        if not lo <= n.pitch <= hi:
            continue
        top = (hi - n.pitch) * PITCH_PX
        cells = image[top : top + PITCH_PX]
        cells[:, n.start * STEP_PX : n.end * STEP_PX - 1] = _NOTE
        cells[:, n.start * STEP_PX : n.start * STEP_PX + STEP_PX - 1] = _ONSET
    return image


def draw_all(melodies) -> np.ndarray:
    """Melodies [n, T] as float32 [n, H, W, 3] over their common pitch range."""
    melodies = np.asarray(melodies)
    lo, hi = pitch_range(melodies)
    return np.stack([draw(m, lo, hi) for m in melodies])
