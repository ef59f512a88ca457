"""Pictures of a style-based generator (StyleGAN2: predict functions `latents`,
`map_latents`, `synthesize`, `sample_truncated`), drawn with the EMA weights like every
evaluator's pictures.

Style mixing (StyleGAN, Karras et al. 2019, figure 3): the top row holds `columns` images of
sources A, the left column `rows` images of sources B; the cell (r, c) is synthesised with
A_c's w on the first `crossover` layers (the coarse styles: pose, shape, thickness) and B_r's
w on the rest (middle and fine styles: details, colour). `crossover` 0 (the default) takes the
coarse layers of the paper, those up to 8x8 (the first four ws: 4x4's convolution and toRGB,
8x8's two convolutions; the official 1024x1024 model's "0-3"), capped at half the ws so that
small generators still mix.

Truncation grid (Karras et al. 2019, figure 8): rows are seeds, columns are psi in `psis`
(default -1, -0.5, 0, 0.5, 0.7, 1): w' = w_avg + psi (w - w_avg) around the tracked mean w, the
same function `gendl.sample --truncation` draws with. The psi = 0 column is the mean w's
image in every row; psi = 1 the plain samples; negative psi the "opposite" of each sample.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.evaluation import predict as predict_lib
from gendl.monitoring import images as images_lib

COARSE_WS = 4  # ws of the layers up to 8x8 (the paper's coarse styles)


def crossover_of(cfg_value: int, num_ws: int) -> int:
    """The number of leading ws taken from source A (see the module docstring)."""
    if cfg_value:
        return min(max(int(cfg_value), 1), num_ws - 1)
    return max(min(COARSE_WS, num_ws // 2), 1)


def mixed_ws(w_a, w_b, num_ws: int, crossover: int):
    """ws [rows * columns, num_ws, w_dim]: for each B (row) and A (column), A's w on the
    first `crossover` layers and B's on the others."""
    rows, columns = w_b.shape[0], w_a.shape[0]
    a = jnp.broadcast_to(w_a[None, :, None], (rows, columns, num_ws, w_a.shape[-1]))
    b = jnp.broadcast_to(w_b[:, None, None], (rows, columns, num_ws, w_b.shape[-1]))
    from_a = (jnp.arange(num_ws) < crossover)[None, None, :, None]
    return jnp.where(from_a, a, b).reshape(rows * columns, num_ws, -1)


def _with_corner(corner_like, top, left, cells, columns):
    """[(rows + 1) * (columns + 1), H, W, C]: a blank corner, the top row, then each row's
    left image followed by its cells."""
    blank = np.ones_like(corner_like)
    out = [blank, *top]
    for r, image in enumerate(left):
        out += [image, *cells[r * columns : (r + 1) * columns]]
    return np.stack(out)


class StyleMixing:
    NEEDS = ("latents", "map_latents", "synthesize")

    def __init__(self, exp, cfg):
        self.latents, map_latents, synthesize = predict_lib.of(exp).require(
            "style_mixing evaluator", *self.NEEDS
        )
        self.rows = int(cfg.get("rows", 5))
        self.columns = int(cfg.get("columns", 6))
        self.seed = int(cfg.get("seed", 0))
        self.num_ws = int(exp.objective.num_ws)
        self.crossover = crossover_of(int(cfg.get("crossover", 0)), self.num_ws)
        n = self.num_ws

        def grid(variables, z_a, labels_a, z_b, labels_b):
            w_a = map_latents(variables, z_a, labels_a)
            w_b = map_latents(variables, z_b, labels_b)
            plain = lambda w: jnp.broadcast_to(w[:, None], (w.shape[0], n, w.shape[-1]))
            return (
                synthesize(variables, plain(w_a)),
                synthesize(variables, plain(w_b)),
                synthesize(variables, mixed_ws(w_a, w_b, n, self.crossover)),
            )

        self._grid = jax.jit(grid)

    def sources(self):
        """(z_a, labels_a, z_b, labels_b): the columns' and rows' latents."""
        key = jax.random.key(self.seed)
        z_a, labels_a = self.latents(jax.random.fold_in(key, 0), self.columns)
        z_b, labels_b = self.latents(jax.random.fold_in(key, 1), self.rows)
        return z_a, labels_a, z_b, labels_b

    def run(self, variables):
        top, left, cells = (np.asarray(x) for x in self._grid(variables, *self.sources()))
        tiles = _with_corner(top[0], top, left, cells, self.columns)
        return {}, {"style_mixing": images_lib.make_grid(tiles, ncol=self.columns + 1)}


class TruncationGrid:
    NEEDS = ("latents", "sample_truncated")
    PSIS = (-1.0, -0.5, 0.0, 0.5, 0.7, 1.0)

    def __init__(self, exp, cfg):
        self.latents, sample_truncated = predict_lib.of(exp).require(
            "truncation_grid evaluator", *self.NEEDS
        )
        self.rows = int(cfg.get("rows", 6))
        self.psis = tuple(float(p) for p in cfg.get("psis", self.PSIS))
        self.seed = int(cfg.get("seed", 0))
        self._sample = jax.jit(sample_truncated)  # psi traced: one program for every column

    def cells(self, variables):
        """float images [rows, len(psis), H, W, C]."""
        z, labels = self.latents(jax.random.key(self.seed), self.rows)
        columns = [
            np.asarray(self._sample(variables, z, jnp.float32(psi), labels)) for psi in self.psis
        ]
        return np.stack(columns, axis=1)

    def run(self, variables):
        cells = self.cells(variables)
        flat = cells.reshape(-1, *cells.shape[2:])
        return {}, {"truncation": images_lib.make_grid(flat, ncol=len(self.psis))}
