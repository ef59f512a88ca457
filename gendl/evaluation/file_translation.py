"""Translating image files with a trained image-to-image run: the library side of
`python -m gendl.translate` (which holds only the flags), so tests and other code can call it
without defining that command's flags.

Inputs of any size or mode: transparency is composited onto white, grey becomes RGB (or colour
grey, for a grey model), and each image is resized to the model's input size. A fully
convolutional model (an objective with `fully_convolutional = True`: super-resolution) instead
takes every image at its own size, so its output is the model's scale times that size;
images of the same size are translated together. Every input is decoded before anything is
written, so a file that is not an image stops with a message naming it and leaves the output
folder untouched.
"""

import os
import pathlib

import jax
import numpy as np
from PIL import Image

from gendl.config import ConfigError
from gendl.data import ops as ops_lib
from gendl.data.errors import DataError
from gendl.data.sources import folder
from gendl.evaluation import predict, runs


def input_files(path) -> list:
    """The image file `path`, or the sorted non-hidden files of the folder `path`."""
    path = pathlib.Path(path).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(
            f"--input={path} is neither a file nor a folder. Pass an image or a folder of images."
        )
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(
            f"The folder --input={path} holds no files. Put the images to translate in it."
        )
    return files


def output_names(files) -> list:
    """`<stem>.png` per file; two inputs that would write the same PNG are refused."""
    names = [f.stem + ".png" for f in files]
    seen = {}
    for f, name in zip(files, names, strict=True):
        if name in seen:
            raise DataError(
                f"{seen[name].name} and {f.name} would both be written as {name}. Rename one of "
                "them or translate them from different folders."
            )
        seen[name] = f
    return names


def load_images(files, image_shape, resize=True):
    """uint8 [n, H, W, C] of the files, made to the model's input shape (white background
    under transparency, grey -> RGB or RGB -> grey, resized to H x W); with `resize=False`
    a list of [h, w, C] arrays, each at its file's own size."""
    height, width, channels = image_shape
    colour = "grey" if channels == 1 else "rgb"
    specs = ("alpha_white", colour) + ((f"resize:{height},{width}",) if resize else ())
    ops = ops_lib.parse(specs)
    rng = np.random.default_rng(0)  # the ops above draw nothing
    images = [ops_lib.apply(ops, {"x": folder.decode(f)}, rng)["x"] for f in files]
    return np.stack(images) if resize else images


def _batches(images, batch_size):
    """(indices, uint8 stack) of at most batch_size images of one size each, in file order
    within each size."""
    by_size = {}
    for i, image in enumerate(images):
        by_size.setdefault(image.shape, []).append(i)
    for indices in by_size.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            yield chunk, np.stack([images[i] for i in chunk])


def load_mask(path, image_shape) -> np.ndarray:
    """float [1, H, W, 1] of a mask image (1 = missing: pixels brighter than mid grey, after
    transparency is composited onto black), resized to the model's H x W."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"--mask={path} is not a file. Pass an image whose white pixels mark the hole."
        )
    height, width, _ = image_shape
    ops = ops_lib.parse(("alpha_black", "grey", f"resize:{height},{width}"))
    grey = ops_lib.apply(ops, {"x": folder.decode(path)}, np.random.default_rng(0))["x"]
    return (np.asarray(grey, np.float32)[None, ..., :1] >= 128).astype(np.float32)


def _with_mask(run, mask_file):
    """translate(variables, x, rng) completing the hole of `mask_file` (an inpainting model's
    `inpaint` predict function); other models refuse a mask."""
    functions = predict.of(run.exp)
    if "inpaint" not in functions:
        raise ConfigError(
            f"--mask={mask_file} is for inpainting models; the {functions.objective!r} run in "
            "--workdir takes no mask. Leave --mask out."
        )
    mask = load_mask(mask_file, run.exp.objective.image_shape)
    inpaint = functions.functions["inpaint"]
    return lambda variables, x, rng: inpaint(variables, x, np.broadcast_to(mask, x[..., :1].shape))


def translate_files(workdir, inputs, output, direction="", seed=0, batch_size=32, mask="") -> list:
    """Translates the image(s) at `inputs` into PNGs in `output`; returns the written paths.
    `mask`: a mask image for an inpainting model (white = missing); "": its own mask rule."""
    run = runs.load_run(workdir)
    if mask:
        translate = _with_mask(run, mask)
    else:
        # Both ways for unpaired translators; a one-way model refuses the other with a message.
        translate = predict.translator(run.exp, direction, "gendl.translate command")
    files = input_files(inputs)
    names = output_names(files)
    objective = run.exp.objective
    own_size = getattr(objective, "fully_convolutional", False)
    # All decoded before anything is written.
    images = load_images(files, objective.image_shape, resize=not own_size)
    fn = jax.jit(translate)
    variables = run.state.variables()
    os.makedirs(output, exist_ok=True)
    key = jax.random.key(seed)
    written = [None] * len(files)
    # Resized inputs form one size group in file order, so the noise key of a batch is
    # folded from its first file's index either way.
    for indices, x in _batches(images, batch_size):
        y = np.asarray(
            fn(variables, x.astype(np.float32) / 255.0, jax.random.fold_in(key, indices[0]))
        )
        for i, image in zip(indices, y, strict=True):
            written[i] = _write_png(os.path.join(output, names[i]), image)
    return written


def _write_png(path, image) -> str:
    pixels = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)
    return path
