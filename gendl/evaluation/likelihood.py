"""Importance-sampled log-likelihood of latent-variable models (Burda et al., 2015).

For a model p(x, z) and a proposal q(z|x), the log importance weights
log w_j = log p(x, z_j) - log q(z_j|x), z_j ~ q(z|x), give the IWAE bound

    L_k(x) = log (1/k) sum_j w_j  <=  log p(x),

which is the ELBO at k=1, is non-decreasing in k in expectation and tends to log p(x) as
k -> infinity. The standard VAE test-set protocol reports L_5000.

Everything here is pure JAX. `importance_sampled_log_likelihood` streams the k samples in
chunks so that memory is set by `chunk_size`, not by k.
"""

import math

import jax
import jax.numpy as jnp

_LOG_2PI = math.log(2.0 * math.pi)


def log_mean_exp(a, axis=-1):
    """log(mean(exp(a), axis)), stable for large |a| and exact for entries of -inf."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    n = math.prod(a.shape[ax] for ax in axes)
    return jax.nn.logsumexp(a, axis=axis) - math.log(n)


def iwae_bound(log_w):
    """The IWAE bound log (1/k) sum_j exp(log_w[:, j]): log_w [batch, k] -> [batch]."""
    return log_mean_exp(log_w, axis=-1)


def importance_sampled_log_likelihood(log_weights_fn, params, x, rng, num_samples, chunk_size):
    """The IWAE bound with `num_samples` samples per example, drawn `chunk_size` at a time.

    Args:
      log_weights_fn: (params, x, rng, n) -> [batch, n] log importance weights of n fresh
        samples per example, e.g. from `vae_log_weights`.
      params: passed through to `log_weights_fn`.
      x: a batch of examples, leading dimension = batch.
      rng: a PRNG key; chunk i draws with `jax.random.fold_in(rng, i)`.
      num_samples: k, the exact number of samples per example (a Python int).
      chunk_size: samples drawn per step (a Python int); peak memory scales with it.

    Returns:
      [batch] estimates of log p(x), lower bounds in expectation.

    A `jax.lax.scan` over the chunks carries a per-example running maximum m and
    s = sum exp(log_w - m) (a streaming logsumexp), so no [batch, k] array is formed. Every
    chunk draws `chunk_size` samples to keep shapes static; in the last chunk the samples
    beyond k are masked out, so exactly k samples count. To jit, close over or mark
    `log_weights_fn`, `num_samples` and `chunk_size` static.
    """
    if num_samples < 1 or chunk_size < 1:
        raise ValueError(
            f"num_samples and chunk_size must be >= 1, got {num_samples} and {chunk_size}."
        )
    chunk_size = min(chunk_size, num_samples)  # a chunk larger than k would only be masked
    num_chunks = -(-num_samples // chunk_size)

    def step(carry, chunk):
        m, s = carry
        log_w = log_weights_fn(params, x, jax.random.fold_in(rng, chunk), chunk_size)
        valid = chunk * chunk_size + jnp.arange(chunk_size) < num_samples
        log_w = jnp.where(valid, log_w, -jnp.inf)
        new_m = jnp.maximum(m, jnp.max(log_w, axis=-1))
        # While every weight so far is 0 (log -inf) the shift is arbitrary; 0 avoids
        # exp(-inf - -inf) = nan, and s stays 0 as it should.
        shift = jnp.where(jnp.isfinite(new_m), new_m, 0.0)
        s = s * jnp.exp(m - shift) + jnp.sum(jnp.exp(log_w - shift[:, None]), axis=-1)
        return (new_m, s), None

    batch = x.shape[0]
    dtype = jax.eval_shape(lambda: log_weights_fn(params, x, rng, chunk_size)).dtype
    init = (jnp.full((batch,), -jnp.inf, dtype), jnp.zeros((batch,), dtype))
    (m, s), _ = jax.lax.scan(step, init, jnp.arange(num_chunks))
    shift = jnp.where(jnp.isfinite(m), m, 0.0)
    return shift + jnp.log(s) - math.log(num_samples)


def diag_gaussian_log_prob(z, mean, logvar):
    """log N(z; mean, diag(exp(logvar))), summed over the last axis."""
    return -0.5 * jnp.sum(_LOG_2PI + logvar + (z - mean) ** 2 * jnp.exp(-logvar), axis=-1)


def std_normal_log_prob(z):
    """log N(z; 0, I), summed over the last axis."""
    return -0.5 * jnp.sum(_LOG_2PI + z**2, axis=-1)


def _sum_non_batch(a):
    return jnp.sum(a.reshape(a.shape[0], -1), axis=-1)


def bernoulli_log_prob(logits, x):
    """log p(x | logits) of independent Bernoullis, summed over all but the first axis.

    x may hold grey levels in [0, 1] (the usual continuous relaxation); the softplus form
    log sigmoid(l) = -softplus(-l) stays finite for logits of any size.
    """
    # Flattened like `objectives.vae.bernoulli_nll`, so flat logits may score shaped images.
    logits, x = logits.reshape(logits.shape[0], -1), x.reshape(x.shape[0], -1)
    return jnp.sum(-x * jax.nn.softplus(-logits) - (1.0 - x) * jax.nn.softplus(logits), axis=-1)


def gaussian_log_prob(x, mean, logvar):
    """log N(x; mean, diag(exp(logvar))), summed over all but the first axis.

    logvar broadcasts against x: a scalar gives a shared, fixed observation variance.
    """
    log_p = -0.5 * (_LOG_2PI + logvar + (x - mean) ** 2 * jnp.exp(-logvar))
    return _sum_non_batch(jnp.broadcast_to(log_p, jnp.broadcast_shapes(log_p.shape, x.shape)))


def vae_log_weights(encode, decode_log_prob):
    """A `log_weights_fn` for a VAE with a diagonal-Gaussian q(z|x) and an N(0, I) prior.

    Args:
      encode: (params, x) -> (mean, logvar), each [batch, latent].
      decode_log_prob: (params, z, x) -> [rows], log p(x|z) per row, where z is
        [batch * n, latent] and x is the batch repeated to [batch * n, ...], row b * n + j
        holding sample j of example b. All n samples of a chunk go through the decoder as
        one batch.

    Returns:
      (params, x, rng, n) -> [batch, n] log weights log p(x|z) + log p(z) - log q(z|x).
    """

    def log_weights_fn(params, x, rng, n):
        mean, logvar = encode(params, x)
        batch, latent = mean.shape
        eps = jax.random.normal(rng, (batch, n, latent), mean.dtype)
        z = mean[:, None] + jnp.exp(0.5 * logvar)[:, None] * eps
        # log q from eps, not from z - mean: a sharp posterior far from 0 would lose the
        # low bits of eps to cancellation.
        log_q = -0.5 * jnp.sum(_LOG_2PI + logvar[:, None] + eps**2, axis=-1)
        log_px = decode_log_prob(params, z.reshape(batch * n, latent), jnp.repeat(x, n, axis=0))
        return log_px.reshape(batch, n) + std_normal_log_prob(z) - log_q

    return log_weights_fn
