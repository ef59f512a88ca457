"""A tiny melody corpus the tests write: ABC tunes in <manual_dir>/melodies/, which the melody
builder reads instead of music21's own corpus (gendl.data.melody_builder)."""

import os

import numpy as np

from gendl.music import corpus

# ABC letters of the C major scale from middle C (L:1/8: one letter = an eighth note).
_SCALE = ["C", "D", "E", "F", "G", "A", "B", "c", "d", "e"]
FILE = "tunes.abc"


def tune_numbers(n_train=6, n_test=2, fraction=0.1) -> list:
    """X: numbers whose tune ids fall n_test into the test split and n_train into train."""
    train, test = [], []
    for x in range(1, 1000):
        share = corpus.test_share(f"manual/{FILE}#{x}")
        (test if share < fraction else train).append(x)
        if len(train) >= n_train and len(test) >= n_test:
            break
    return sorted(train[:n_train] + test[:n_test])


def abc_tune(x: int, bars: int = 6, metre: str = "4/4", seed: int = 0) -> str:
    """A tune of `bars` bars of eighth notes drawn from a scale, one rest per bar."""
    rng = np.random.default_rng([seed, x])
    per_bar = {"4/4": 8, "2/4": 4, "6/8": 6}[metre]
    body = []
    for _ in range(bars):
        notes = [_SCALE[i] for i in rng.integers(0, len(_SCALE), per_bar)]
        notes[int(rng.integers(per_bar))] = "z"
        body.append("".join(notes))
    return f"X:{x}\nT:Tune {x}\nM:{metre}\nL:1/8\nK:C\n{' | '.join(body)} |]\n\n"


def write_melodies(root: str) -> str:
    """<root>/melodies/tunes.abc with 8 tunes in 4/4 (2 of them in the test split) and one in
    6/8, which the builder skips. Returns the folder."""
    folder = os.path.join(root, "melodies")
    os.makedirs(folder, exist_ok=True)
    numbers = tune_numbers()
    text = "".join(abc_tune(x) for x in numbers) + abc_tune(max(numbers) + 1, metre="6/8")
    with open(os.path.join(folder, FILE), "w") as f:
        f.write(text)
    return folder
