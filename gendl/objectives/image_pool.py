"""The history of generated images a CycleGAN discriminator trains on (Shrivastava et al.
2017, sec. 2.3; Zhu et al. 2017, sec. 4): a pool of the last `size` fakes, so that the
discriminator sees the generator's recent past, not only its latest output, which damps
oscillation.

The rule (the reference code's ImagePool.query), image by image through the batch: while
fewer than `size` images are stored, store the new fake and return it. Once full, draw
u ~ U[0, 1): if u > 0.5, pick a stored image uniformly, return it and store the new fake in
its place; else return the new fake and leave the pool as it is. Each image's draws come from
its own key, split from the step's key, so a step's pooling is a pure function of (seed,
step) and the pool itself (kept in `state.objective_state`, checkpointed): resumes are exact.
"""

import jax
import jax.numpy as jnp


def init(size: int, image_shape) -> dict:
    """An empty pool: `size` slots of float32 images and the number filled."""
    return {
        "images": jnp.zeros((size, *image_shape), jnp.float32),
        "count": jnp.zeros((), jnp.int32),
    }


def query(pool: dict, images, key) -> tuple:
    """(new pool, images for the discriminator), for `images` [n, ...] from the generator."""
    stored, size = pool["images"], pool["images"].shape[0]
    if size == 0:  # pool_size 0: the discriminator sees the latest fakes only
        return pool, images

    def one(carry, inputs):
        stored, count = carry
        image, k = inputs
        k_coin, k_slot = jax.random.split(k)
        filling = count < size
        swap = jnp.logical_and(~filling, jax.random.uniform(k_coin) > 0.5)
        slot = jnp.where(filling, count, jax.random.randint(k_slot, (), 0, size))
        old = stored[slot]
        out = jnp.where(swap, old, image)
        stored = stored.at[slot].set(jnp.where(filling | swap, image, old))
        return (stored, count + filling.astype(count.dtype)), out

    keys = jax.random.split(key, images.shape[0])
    (stored, count), out = jax.lax.scan(
        one, (stored, pool["count"]), (images.astype(stored.dtype), keys)
    )
    return {"images": stored, "count": count}, out
