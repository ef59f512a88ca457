"""The random affine warp behind InfoGAN's `code_augment`: exact on the maps it can do exactly
(identity, quarter turns, whole-pixel shifts), linear in the image (so differentiable with
the gradient a warp should have), and strict about its config."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gendl.augment import affine
from gendl.config import ConfigError

X = jax.random.uniform(jax.random.key(0), (3, 12, 12, 2))
EYE = jnp.tile(jnp.eye(2), (3, 1, 1))
NO_SHIFT = jnp.zeros((3, 2))


def test_identity_map_returns_the_image():
    np.testing.assert_array_equal(affine.warp(X, EYE, NO_SHIFT), X)


def test_zero_ranges_return_the_image():
    np.testing.assert_allclose(affine.random_affine(X, jax.random.key(1), 0, 0, 0), X, atol=1e-6)


def test_quarter_turn_about_the_centre_is_rot90():
    quarter = jnp.tile(jnp.array([[0.0, 1.0], [-1.0, 0.0]]), (3, 1, 1))
    np.testing.assert_allclose(
        affine.warp(X, quarter, NO_SHIFT), jnp.rot90(X, 1, axes=(1, 2)), atol=1e-5
    )


def test_whole_pixel_shift_moves_the_image_and_fills_with_zero():
    shift = jnp.tile(jnp.array([2.0, -1.0]), (3, 1))  # 2 rows down, 1 column left
    y = affine.warp(X, EYE, shift)
    np.testing.assert_array_equal(y[:, 2:, :-1], X[:, :-2, 1:])
    assert float(jnp.abs(y[:, :2]).max()) == 0.0 and float(jnp.abs(y[:, :, -1]).max()) == 0.0


def test_warp_is_linear_in_the_image_so_its_gradient_is_the_transpose():
    key = jax.random.key(2)
    f = lambda x: affine.random_affine(x, key, 20.0, 0.15, 2.0)
    y = jax.random.normal(jax.random.key(3), X.shape)
    np.testing.assert_allclose(f(2.0 * X - 0.5 * y), 2.0 * f(X) - 0.5 * f(y), atol=1e-5)
    # <f(x), y> = <x, f^T(y)>: the gradient of the first in x is f^T(y), nonzero and exact.
    grad = jax.grad(lambda x: jnp.sum(f(x) * y))(X)
    _, transpose = jax.vjp(f, X)
    np.testing.assert_allclose(grad, transpose(y)[0], atol=1e-6)
    assert float(jnp.abs(grad).max()) > 0.1


def test_each_image_gets_its_own_warp():
    same = jnp.tile(X[:1], (3, 1, 1, 1))
    y = affine.random_affine(same, jax.random.key(4), 20.0, 0.15, 2.0)
    assert not np.allclose(y[0], y[1]) and not np.allclose(y[1], y[2])


@pytest.mark.parametrize(
    "cfg, match",
    [
        (dict(rotation=10.0), "unknown keys"),
        (dict(scale=-0.1), ">= 0"),
        (dict(scale=1.0), "below 1"),
    ],
)
def test_bad_config_is_refused(cfg, match):
    with pytest.raises(ConfigError, match=match):
        affine.parse(cfg)
