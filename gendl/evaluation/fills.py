"""Fill baselines an inpainting model has to beat: hand-made completions of the hole from the
context alone, no learning. Images [n, H, W, C] in [0, 1], masks [n, H, W, 1] with 1 where
a pixel is missing (gendl.data.masks); each returns the completed image, the context
unchanged.

  mean_fill       every hole pixel gets the mean colour of the image's context pixels;
  diffusion_fill  harmonic (Laplace) inpainting: each hole pixel the mean of its four
                  neighbours, the context fixed as the boundary condition, by Jacobi
                  iteration from the mean fill. The smoothest completion that meets the
                  edge of the hole, so the hole's border takes the nearest context colours.
"""

import jax
import jax.numpy as jnp


def mean_fill(images, mask):
    """The hole filled with each image's mean context colour (per channel)."""
    context = 1.0 - mask
    count = jnp.maximum(jnp.sum(context, axis=(1, 2), keepdims=True), 1.0)
    colour = jnp.sum(images * context, axis=(1, 2), keepdims=True) / count
    return images * context + colour * mask


def _neighbour_mean(x):
    """The mean of the four neighbours of every pixel; beyond the image border the border
    pixel repeats (no flux across the edge)."""
    p = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    return 0.25 * (p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:])


def diffusion_fill(images, mask, iterations: int | None = None):
    """Harmonic inpainting by `iterations` Jacobi sweeps (default (max side)^2 / 4, enough for
    a hole of half the side to settle from the mean fill)."""
    if iterations is None:
        iterations = max(images.shape[1], images.shape[2]) ** 2 // 4
    context = 1.0 - mask

    def sweep(_, x):
        return images * context + _neighbour_mean(x) * mask

    return jax.lax.fori_loop(0, int(iterations), sweep, mean_fill(images, mask))


BASELINES = {"mean_fill": mean_fill, "diffusion_fill": diffusion_fill}
