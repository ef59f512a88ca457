"""MIDI files with a trained melody model (MusicVAE): the library side of `gendl.sample`'s
MIDI output and of `python -m gendl.interpolate` (which holds only the flags).

Every input MIDI file is read before anything is written, so a corrupt or non-MIDI file stops
with one paragraph naming it and leaves the output folder untouched. Inputs are cut to the
model's length (its first bars, from the bar of the first note); shorter ones end in silence.
"""

import os
import pathlib

import jax
import numpy as np

from gendl.data.errors import DataError
from gendl.evaluation import predict, runs
from gendl.monitoring import figures
from gendl.monitoring import images as images_lib
from gendl.music import midi, pianoroll


def _length(run) -> int:
    return int(run.exp.objective.length)


def read_inputs(paths, length: int) -> np.ndarray:
    """Tokens [n, length] of MIDI files (a DataError naming the first unreadable one)."""
    for path in paths:
        if not pathlib.Path(path).is_file():
            raise DataError(f"{path} is not a file. Pass the path of a MIDI file (.mid).")
    return np.stack([midi.read_tokens(p, length) for p in paths]).astype(np.int32)


def write_melodies(out, tokens, stem: str, picture: str, columns: int = 1) -> list:
    """<out>/<stem>_<i>.mid per melody, <out>/<stem>.npy (tokens) and <out>/<picture>.png."""
    tokens = np.asarray(tokens)
    os.makedirs(out, exist_ok=True)
    written = [
        midi.write_tokens(os.path.join(out, f"{stem}_{i:03d}.mid"), t) for i, t in enumerate(tokens)
    ]
    np.save(os.path.join(out, f"{stem}.npy"), tokens.astype(np.uint8))
    grid = images_lib.make_grid(pianoroll.draw_all(tokens), columns)
    images_lib.write_png(os.path.join(out, f"{picture}.png"), grid)
    return written


def export_samples(workdir, num_samples: int, out, seed: int = 0) -> np.ndarray:
    """Prior samples of a melody run as MIDI files, tokens and a piano-roll picture."""
    if num_samples < 1:
        raise DataError(f"--num_samples must be >= 1, got {num_samples}.")
    run = runs.load_run(workdir)
    p = predict.of(run.exp)
    sample, sample_noise = p.require(f"gendl.sample export of {workdir}", "sample", "sample_noise")
    tokens = np.asarray(
        jax.jit(sample)(run.state.variables(), sample_noise(jax.random.key(seed), num_samples))
    )
    write_melodies(out, tokens, "sample", "samples", columns=2)
    return tokens


def interpolate_files(workdir, a, b, steps: int, out) -> np.ndarray:
    """Decodes `steps` codes on the great circle between the codes of MIDI files a and b
    (the endpoints are their reconstructions); with b None, reconstructs a."""
    run = runs.load_run(workdir)
    encode, decode = predict.of(run.exp).require("gendl.interpolate command", "encode", "decode")
    paths = [a] if b is None else [a, b]
    x = read_inputs(paths, _length(run))
    variables = run.state.variables()
    codes = jax.jit(encode)(variables, x)
    if b is None:
        tokens = np.asarray(jax.jit(decode)(variables, codes))
        write_melodies(
            out, np.concatenate([x, tokens]), "input_and_reconstruction", "reconstruction"
        )
        return tokens
    if steps < 2:
        raise DataError(f"--steps={steps}: an interpolation needs at least 2 steps (its ends).")
    path = figures.slerp(codes[0], codes[1], steps)
    tokens = np.asarray(jax.jit(decode)(variables, path))
    write_melodies(out, tokens, "interpolation", "interpolation")
    return tokens
