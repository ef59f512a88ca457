"""A latent-interpolation animation of a generator (predict function `sample`, and `latents`
or `sample_noise`: ProGAN, StyleGAN2, the DCGAN-style GANs): the library side of
`python -m gendl.interpolate` for image generators.

`keyframes` latents are drawn from the seed (one z each; a conditional model keeps the first
keyframe's class throughout) and visited in a loop, z_0 -> z_1 -> ... -> z_{K-1} -> z_0, along
great circles (slerp in z: the prior's mass sits on a shell, see figures.slerp); the `frames`
frames are spread over the K segments (the first segments get one more when K does not divide
`frames`), each segment starting exactly on its keyframe, so frame 0 is keyframe 0's image and
the loop closes without a repeated frame. The animation is a looping GIF (Pillow; grey models
as 8-bit grey): no video library is installed with gendl, so no MP4.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gendl.config import ConfigError
from gendl.evaluation import predict, runs
from gendl.monitoring import figures
from gendl.monitoring import images as images_lib


def keyframe_latents(functions, keyframes: int, seed: int):
    """(z [K, d], labels [K] or None) of the keyframes."""
    key = jax.random.key(seed)
    if "latents" in functions:
        return functions.functions["latents"](key, keyframes)
    (sample_noise,) = functions.require("gendl.interpolate command", "sample_noise")
    noise = sample_noise(key, keyframes)
    if isinstance(noise, dict):
        return noise["z"], noise["label"]
    return noise, None


def segment_frames(frames: int, keyframes: int) -> list:
    """Frames per segment (keyframe i to i + 1), the first ones taking the remainder."""
    return [frames // keyframes + (i < frames % keyframes) for i in range(keyframes)]


def keyframe_indices(frames: int, keyframes: int) -> np.ndarray:
    """The frame at which each keyframe's segment starts (its image)."""
    return np.cumsum([0] + segment_frames(frames, keyframes))[:-1]


def loop_path(z, frames: int):
    """[frames, d]: the slerp loop through the rows of z (see the module docstring)."""
    k = z.shape[0]
    segments = [
        figures.slerp(z[i], z[(i + 1) % k], c + 1)[:-1]
        for i, c in enumerate(segment_frames(frames, k))
    ]
    return jnp.concatenate(segments)


def animation_frames(run, frames: int, keyframes: int, seed: int, batch_size: int = 64):
    """float images [frames, H, W, C] in [0, 1] of the run's generator along the loop."""
    if keyframes < 2 or frames < keyframes:
        raise ConfigError(
            f"--frames={frames}, --keyframes={keyframes}: an interpolation loop needs at least "
            "2 keyframes and at least one frame per keyframe (--frames >= --keyframes)."
        )
    functions = predict.of(run.exp)
    (sample,) = functions.require("gendl.interpolate command", "sample")
    z, labels = keyframe_latents(functions, keyframes, seed)
    path = loop_path(jnp.asarray(z), frames)
    fn = jax.jit(sample)
    variables = run.state.variables()
    out = []
    for start in range(0, frames, batch_size):
        chunk = path[start : start + batch_size]
        if labels is None:
            out.append(np.asarray(fn(variables, chunk)))
        else:
            held = jnp.full((chunk.shape[0],), labels[0], jnp.int32)
            out.append(np.asarray(fn(variables, chunk, held)))
    return np.concatenate(out)


def write_gif(path: str, images, fps: float) -> str:
    """A looping GIF of images [n, H, W, C] (float in [0, 1] or uint8)."""
    pixels = images_lib.to_uint8(images)
    mode = "L" if pixels.shape[-1] == 1 else "RGB"
    pictures = [Image.fromarray(p[..., 0] if mode == "L" else p, mode) for p in pixels]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pictures[0].save(
        path,
        save_all=True,
        append_images=pictures[1:],
        duration=max(int(round(1000 / fps)), 20),
        loop=0,
        optimize=False,
    )
    return path


def interpolation_gif(workdir, out, frames=60, keyframes=4, seed=0, fps=20.0):
    """Writes <out>/interpolation.gif and <out>/keyframes.png; returns the frames (uint8)."""
    run = runs.load_run(workdir)
    images = images_lib.to_uint8(animation_frames(run, frames, keyframes, seed))
    write_gif(os.path.join(out, "interpolation.gif"), images, fps)
    starts = keyframe_indices(frames, keyframes)
    grid = images_lib.make_grid(images[starts], ncol=keyframes)
    images_lib.write_png(os.path.join(out, "keyframes.png"), grid)
    return images
