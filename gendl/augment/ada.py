"""ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"):
the augmentation pipeline with probability p, and the rule that adapts p during training.

Pipeline (the paper's appendix B, groups "geometric" and "color"; "bgc" without the
non-integer geometric ops): each op is applied to each image independently with
probability p, in this order:
  geometric: x-flip; rotation by a uniform multiple of 90 degrees; integer translation by
             U(-1/8, 1/8) of the side, rounded, with reflection at the borders;
  color:     brightness + N(0, 0.2); contrast x lognormal(0, (0.5 ln 2)^2); luma flip
             (reflection along the luma axis); hue rotation about the luma axis by
             U(-pi, pi) (RGB only); saturation x lognormal(0, (ln 2)^2) (RGB only).
The colour ops compose into one affine colour matrix per image, as in the official code.
Every op is a gather or an affine map of the pixels: differentiable in the image.

The rule (section 3): every `interval` steps, r_t = E[sign(D(real))] over those steps and
p <- clip(p + sign(r_t - target) * (batch * interval) / (speed_kimg * 1000), 0, 1): p can
go from 0 to 1 in `speed_kimg` thousand images (500 in the paper), target 0.6.
"""

import math

import jax
import jax.numpy as jnp

GROUPS = ("geometric", "color")


def _chance(key, n, p):
    return jax.random.uniform(key, (n,)) < p


def _reflect(index, size):
    """Mirror indices outside [0, size) back into it (reflection without repeating the edge)."""
    period = 2 * (size - 1)
    index = jnp.abs(index) % period
    return jnp.where(index >= size, period - index, index)


def geometric(x, key, p):
    n, h, w, _ = x.shape
    kf, kfp, kr, krp, kt, ktp = jax.random.split(key, 6)
    flip = _chance(kfp, n, p) & (jax.random.uniform(kf, (n,)) < 0.5)
    x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
    if h == w:  # a quarter turn keeps the shape of square images only
        turns = jnp.where(_chance(krp, n, p), jax.random.randint(kr, (n,), 0, 4), 0)
        rotated = [jnp.rot90(x, k, axes=(1, 2)) for k in range(4)]
        x = jnp.select([turns[:, None, None, None] == k for k in range(4)], rotated)
    move = _chance(ktp, n, p)
    t = jax.random.uniform(kt, (n, 2), minval=-0.125, maxval=0.125)
    dy = jnp.where(move, jnp.round(t[:, 0] * h), 0).astype(jnp.int32)
    dx = jnp.where(move, jnp.round(t[:, 1] * w), 0).astype(jnp.int32)
    rows = _reflect(jnp.arange(h)[None, :] - dy[:, None], h)
    cols = _reflect(jnp.arange(w)[None, :] - dx[:, None], w)
    return jax.vmap(lambda img, r, c: img[r][:, c])(x, rows, cols)


def _luma_axis(c):
    return jnp.ones((c,)) / math.sqrt(c)


def color_matrices(key, n, c, p):
    """[n, c, c + 1] affine colour transforms (matrix | offset) of the colour group."""
    kb, kbp, kc, kcp, kl, klp, kh, khp, ks, ksp = jax.random.split(key, 10)
    v = _luma_axis(c)
    eye = jnp.eye(c)
    outer = jnp.outer(v, v)
    b = jnp.where(_chance(kbp, n, p), jax.random.normal(kb, (n,)) * 0.2, 0.0)
    s = jnp.where(_chance(kcp, n, p), jnp.exp2(jax.random.normal(kc, (n,)) * 0.5), 1.0)
    flip = _chance(klp, n, p) & (jax.random.uniform(kl, (n,)) < 0.5)
    m = s[:, None, None] * eye  # contrast (a scale about the origin: grey 0 in [-1, 1])
    m = jnp.where(flip[:, None, None], (eye - 2.0 * outer) @ m, m)  # luma flip
    offset = b[:, None] * jnp.ones((c,))  # brightness, applied first, so carried by m
    if c == 3:
        theta = jax.random.uniform(kh, (n,), minval=-math.pi, maxval=math.pi)
        theta = jnp.where(_chance(khp, n, p), theta, 0.0)
        m = _rotation_about(v, theta) @ m
        sat = jnp.where(_chance(ksp, n, p), jnp.exp2(jax.random.normal(ks, (n,))), 1.0)
        m = (outer + (eye - outer) * sat[:, None, None]) @ m
    return jnp.concatenate([m, (m @ offset[:, :, None])], axis=-1)


def _rotation_about(v, theta):
    """[n, 3, 3] rotations by theta [n] about the unit axis v (Rodrigues)."""
    k = jnp.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    sin, cos = jnp.sin(theta)[:, None, None], jnp.cos(theta)[:, None, None]
    return jnp.eye(3) + sin * k + (1.0 - cos) * (k @ k)


def color(x, key, p):
    n, _, _, c = x.shape
    m = color_matrices(key, n, c, p).astype(x.dtype)
    return jnp.einsum("nhwc,ndc->nhwd", x, m[:, :, :c]) + m[:, None, None, :, c]


def augment(x, key, p, groups=GROUPS):
    """x [n, H, W, C] in [-1, 1] through the pipeline at probability p (a traced scalar)."""
    kg, kc = jax.random.split(key)
    if "geometric" in groups:
        x = geometric(x, kg, p)
    if "color" in groups:
        x = color(x, kc, p)
    return x


def adjust_p(p, sign_sum, count, *, batch_size, interval, target, speed_kimg):
    """The new p after `interval` steps that saw `count` real scores with sum of signs
    `sign_sum`: one step of size batch * interval / (speed_kimg * 1000) towards the target."""
    r_t = sign_sum / jnp.maximum(count, 1.0)
    step = jnp.sign(r_t - target) * (batch_size * interval) / (speed_kimg * 1000.0)
    return jnp.clip(p + step, 0.0, 1.0)
