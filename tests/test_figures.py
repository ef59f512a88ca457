"""Tests for gendl.monitoring.figures: reconstruction/interpolation/manifold grids, latent
interpolation and the rasterized scatter plot."""

import statistics

import numpy as np
import pytest

from gendl.monitoring import figures, images

# --- helpers -----------------------------------------------------------------------------------


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), inclusive, of the True pixels of a 2-D mask."""
    rows, cols = np.nonzero(mask)
    assert rows.size, "mask is empty"
    return rows.min(), cols.min(), rows.max(), cols.max()


def constant_images(values, h=3, w=4, c=1) -> np.ndarray:
    """uint8 [N, h, w, c] images, image i filled with values[i]."""
    values = np.asarray(values, np.uint8)
    return np.broadcast_to(values[:, None, None, None], (len(values), h, w, c)).copy()


# --- reconstruction_grid -----------------------------------------------------------------------


@pytest.mark.parametrize("n, ncol", [(16, None), (11, 4), (3, 8)])
def test_reconstruction_grid_puts_each_input_above_its_output(n, ncol):
    h, w, pad = 3, 4, 2
    # Unique grey levels (never the white pad or the grey band) let each tile be located.
    inputs = constant_images(10 + 2 * np.arange(n), h, w)
    outputs = constant_images(11 + 2 * np.arange(n), h, w)
    grid = figures.reconstruction_grid(inputs, outputs, ncol=ncol, pad=pad)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[-1] == 1

    cols = min(ncol or 8, n)
    pairs = -(-n // cols)
    assert grid.shape[1] == pad + cols * (w + pad)
    # Each pair is 2 tile rows; pairs are joined by a 2-pixel band.
    assert grid.shape[0] == pairs * (pad + 2 * (h + pad)) + (pairs - 1) * 2
    for i in range(n):
        t_in, l_in, b_in, r_in = bbox(grid[..., 0] == inputs[i, 0, 0, 0])
        t_out, l_out, b_out, r_out = bbox(grid[..., 0] == outputs[i, 0, 0, 0])
        assert (b_in - t_in + 1, r_in - l_in + 1) == (h, w)  # one solid tile each
        assert (l_out, r_out) == (l_in, r_in)  # same column
        assert t_out == t_in + h + pad  # directly below
        assert l_in == pad + (i % cols) * (w + pad)


def test_reconstruction_grid_separates_pairs_and_accepts_floats():
    inputs = np.zeros((4, 2, 2), np.float32)  # channel-less grayscale, black
    grid = figures.reconstruction_grid(inputs, inputs + 1.0, ncol=2, pad=1, sep=3)
    block = 1 + 2 * (2 + 1)
    assert grid.shape == (2 * block + 3, 1 + 2 * 3, 1)
    assert np.all(grid[block : block + 3] == 128)  # the band between the two pairs
    assert np.all(grid[1:3, 1:3] == 0) and np.all(grid[4:6, 1:3] == 255)


def test_reconstruction_grid_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        figures.reconstruction_grid(np.zeros((4, 2, 2, 1)), np.zeros((3, 2, 2, 1)))


# --- latent interpolation ----------------------------------------------------------------------


@pytest.mark.parametrize("fn", [figures.linear_interpolation, figures.slerp])
def test_interpolation_shapes_and_exact_endpoints(fn):
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=(2, 3, 16)).astype(np.float32)  # a batch of 3 pairs
    path = np.asarray(fn(z0, z1, 7))
    assert path.shape == (7, 3, 16) and path.dtype == np.float32
    np.testing.assert_array_equal(path[0], z0)
    np.testing.assert_array_equal(path[-1], z1)
    with pytest.raises(ValueError):
        fn(z0, z1, 1)


def test_linear_interpolation_is_evenly_spaced():
    path = np.asarray(figures.linear_interpolation(np.zeros(2), np.array([4.0, -8.0]), 5))
    np.testing.assert_allclose(path, [[0, 0], [1, -2], [2, -4], [3, -6], [4, -8]], atol=1e-6)


def test_slerp_keeps_norm_for_equal_norm_endpoints():
    rng = np.random.default_rng(1)
    z0, z1 = rng.normal(size=(2, 32))
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
    path = np.asarray(figures.slerp(z0, z1, 11))
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), np.linalg.norm(z0), rtol=1e-5)
    # And it really is not the chord, whose midpoint is shorter.
    assert np.linalg.norm((z0 + z1) / 2) < 0.99 * np.linalg.norm(path[5])
    # Orthogonal unit vectors: the midpoint is at 45 degrees.
    mid = np.asarray(figures.slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 3))[1]
    np.testing.assert_allclose(mid, [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)


@pytest.mark.parametrize("factor", [2.0, -3.0, 1.0])
def test_slerp_falls_back_to_linear_for_parallel_vectors(factor):
    z0 = np.array([0.3, -1.2, 0.5], np.float32)
    z1 = factor * z0
    path = np.asarray(figures.slerp(z0, z1, 6))
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path, np.asarray(figures.linear_interpolation(z0, z1, 6)))


def test_slerp_handles_zero_endpoint():
    path = np.asarray(figures.slerp(np.zeros(3), np.ones(3), 4))
    assert np.all(np.isfinite(path))
    np.testing.assert_array_equal(path[-1], np.ones(3))


# --- interpolation_strip -----------------------------------------------------------------------


def test_interpolation_strip_layout_and_endpoints():
    rows, steps, h, w, pad = 3, 5, 2, 3, 1
    rng = np.random.default_rng(2)
    ends = rng.integers(0, 256, size=(rows, 2, h, w, 3), dtype=np.uint8)
    t = np.linspace(0.0, 1.0, steps)[None, :, None, None, None]
    strips = np.rint((1 - t) * ends[:, :1] + t * ends[:, 1:]).astype(np.uint8)
    image = figures.interpolation_strip(strips, pad=pad)
    assert image.dtype == np.uint8
    assert image.shape == (pad + rows * (h + pad), pad + steps * (w + pad), 3)
    for r in range(rows):
        top = pad + r * (h + pad)
        np.testing.assert_array_equal(image[top : top + h, pad : pad + w], ends[r, 0])
        right = pad + (steps - 1) * (w + pad)
        np.testing.assert_array_equal(image[top : top + h, right : right + w], ends[r, 1])
    with pytest.raises(ValueError):
        figures.interpolation_strip(strips[0])


# --- manifold_grid -----------------------------------------------------------------------------


def paint_coordinates(z: np.ndarray) -> np.ndarray:
    """A fake decoder: a 1x2 image whose pixels encode (z1, z2) mapped from [-2, 2] to [0, 1]."""
    return ((np.asarray(z) + 2.0) / 4.0)[:, None, :, None]


def test_manifold_grid_decodes_quantile_grid_in_plot_order():
    calls = []

    def decode(z):
        calls.append(np.array(z))
        return paint_coordinates(z)

    n = 5
    grid = figures.manifold_grid(decode, n=n)
    assert len(calls) == 1 and calls[0].shape == (n * n, 2) and calls[0].dtype == np.float32
    assert grid.dtype == np.uint8 and grid.shape == (n * 1, n * 2, 1)

    # Standard-normal quantiles of 0.05, 0.275, 0.5, 0.725, 0.95, from the stdlib as a reference.
    q = np.array([statistics.NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)])
    np.testing.assert_allclose(calls[0][:, 0].reshape(n, n), np.tile(q, (n, 1)), atol=1e-5)
    np.testing.assert_allclose(calls[0][:, 1].reshape(n, n), np.tile(q[::-1, None], n), atol=1e-5)

    z1_img = grid[:, 0::2, 0].astype(int)  # [row, col] painted z1
    z2_img = grid[:, 1::2, 0].astype(int)
    assert np.all(np.diff(z1_img, axis=1) > 0) and np.all(np.diff(z1_img, axis=0) == 0)
    assert np.all(np.diff(z2_img, axis=0) < 0) and np.all(np.diff(z2_img, axis=1) == 0)
    # Top-left tile = (low z1, high z2).
    np.testing.assert_array_equal(grid[0, :2, 0], images.to_uint8((q[[0, -1]] + 2) / 4))


def test_manifold_grid_with_lim_and_padding():
    latents = figures.manifold_latents(n=3, lim=2.0)
    np.testing.assert_allclose(latents[0], [-2.0, 2.0])
    np.testing.assert_allclose(latents[-1], [2.0, -2.0])
    grid = figures.manifold_grid(paint_coordinates, n=3, lim=2.0, pad=1)
    assert grid.shape == (1 + 3 * 2, 1 + 3 * 3, 1)
    np.testing.assert_array_equal(grid[1, 1:3, 0], [0, 255])  # top-left: z1 = -2, z2 = +2
    with pytest.raises(ValueError):
        figures.manifold_grid(lambda z: paint_coordinates(z)[:-1], n=3)


# --- scatter_plot ------------------------------------------------------------------------------


def colour_mask(image: np.ndarray, k: int) -> np.ndarray:
    return np.all(image == figures.PALETTE[k], axis=-1)


def box_right_edge(image: np.ndarray) -> int:
    """The axis box's right edge: the last column that is black over most of its height."""
    tall = np.nonzero(np.all(image == 0, axis=-1).sum(axis=0) > image.shape[0] // 2)[0]
    assert tall.size == 2, "expected the two vertical sides of the box"
    return int(tall[-1])


def test_scatter_plot_places_points_by_value_and_label():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    labels = np.array([1, 2, 3, 4])
    image = figures.scatter_plot(points, labels, size=256, point_radius=1)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert np.all(image[0, 0] == 255)  # white background
    right = box_right_edge(image)
    plot = image[:, :right]

    def centre(k):
        t, lft, b, r = bbox(colour_mask(plot, k))
        assert (b - t, r - lft) == (2, 2)  # radius 1 -> a 3x3 disc
        return (t + b) // 2, (lft + r) // 2

    (r1, c1), (r2, c2), (r3, c3), (r4, c4) = (centre(k) for k in (1, 2, 3, 4))
    assert c1 < c2 and r1 > r2  # y points up: (0, 0) is bottom-left of (1, 1)
    assert abs(r3 - (r1 + r2) / 2) <= 1 and abs(c3 - (c1 + c2) / 2) <= 1
    assert (r4, c4) == (r1, c2)
    assert np.all(image[r3, c3] == figures.PALETTE[3])
    # Autoscaling leaves a margin: the extreme points sit strictly inside the box.
    assert 0 < c1 - 1 and c2 + 1 < right


def test_scatter_plot_legend_draws_each_label_glyph():
    rng = np.random.default_rng(3)
    labels = np.array([7, 0, 3, 7, 9, 3])
    image = figures.scatter_plot(rng.normal(size=(6, 2)), labels, size=512)
    legend = image[:, box_right_edge(image) + 1 :]
    for k in range(10):
        square = colour_mask(legend, k)
        if k not in labels:
            assert not square.any()
            continue
        top, left, bottom, right = bbox(square)
        side = bottom - top + 1
        assert right - left + 1 == side and square.sum() == side * side  # a solid square
        text = np.all(legend[top : bottom + 1, right + 1 :] == 0, axis=-1)
        t, lft, b, r = bbox(text)
        glyph = text[t : b + 1, lft : r + 1]
        scale = glyph.shape[0] // 5
        expected = np.kron(figures.DIGIT_GLYPHS[k], np.ones((scale, scale))).astype(bool)
        np.testing.assert_array_equal(glyph, expected)
    # Entries are listed in label order, top to bottom.
    tops = [bbox(colour_mask(legend, k))[0] for k in (0, 3, 7, 9)]
    assert tops == sorted(tops)


def test_scatter_plot_later_points_on_top_and_deterministic():
    rng = np.random.default_rng(4)
    points = rng.normal(size=(10_000, 2))
    labels = rng.integers(0, 10, size=10_000)
    a = figures.scatter_plot(points, labels)
    np.testing.assert_array_equal(a, figures.scatter_plot(points, labels))
    assert a.shape == (512, 512, 3) and a.dtype == np.uint8

    same = np.zeros((3, 2))  # all on one pixel: the last one drawn wins
    top = figures.scatter_plot(same, np.array([1, 5, 2]), size=128, point_radius=0)
    plot = top[:, : box_right_edge(top)]
    assert colour_mask(plot, 2).sum() == 1
    assert not colour_mask(plot, 1).any() and not colour_mask(plot, 5).any()


def test_scatter_plot_without_labels_and_bad_input():
    image = figures.scatter_plot(np.array([[0.0, 1.0], [np.nan, 0.0], [2.0, 3.0]]), size=128)
    assert image.shape == (128, 128, 3)
    assert colour_mask(image, 0).sum() == 2 * 9  # two finite points, 3x3 each, no legend
    with pytest.raises(ValueError):
        figures.scatter_plot(np.zeros((3, 3)))
    with pytest.raises(ValueError):
        figures.scatter_plot(np.zeros((3, 2)), np.array([0, -1, 2]))
