"""Drawing many samples from a generative objective in fixed-size batches (for sample-quality
metrics and `gendl.sample`), with fixed noise so figures at different steps are comparable."""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.monitoring import images as images_lib


def num_classes(objective):
    """The class count of a conditional model, None for an unconditional one."""
    if not getattr(objective, "conditional", False):
        return None
    return int(objective.config.model.num_classes)


def generate(objective, variables, n, *, batch_size=500, seed=0):
    """`variables` from `state.variables()` (EMA weights where the run keeps them).

    Yields (uint8 images [b, H, W, C], requested labels [b] or None) until n images.

    Conditional models are asked for the classes in turn (label i % K for sample i), so every
    class gets n / K samples. Sample i's noise is drawn with fold_in(key(seed), i).
    """
    if not getattr(objective, "generates_images", True):
        raise ValueError(f"The {type(objective).__name__} objective does not generate images.")
    k = num_classes(objective)
    sample = jax.jit(objective.sample)
    key = jax.random.key(seed)
    # Sample i's noise comes from fold_in(key, i): the images do not depend on batch_size.
    noise_of = jax.jit(
        jax.vmap(
            lambda i: jax.tree.map(
                lambda a: a[0], objective.sample_noise(jax.random.fold_in(key, i), 1)
            )
        )
    )
    for start in range(0, n, batch_size):
        noise = noise_of(start + jnp.arange(batch_size))
        valid = min(batch_size, n - start)
        if k is None:
            images, labels = sample(variables, noise), None
        else:
            labels = (start + jnp.arange(batch_size)) % k
            if isinstance(noise, dict) and "label" in noise:  # grid noise that carries labels
                noise = {**noise, "label": labels}
            images = sample(variables, noise, labels)
            labels = np.asarray(labels)[:valid]
        yield images_lib.to_uint8(np.asarray(jax.device_get(images))[:valid]), labels


def generate_all(objective, variables, n, *, batch_size=500, seed=0):
    """All n samples at once: (uint8 images [n, H, W, C], labels [n] or None)."""
    parts = list(generate(objective, variables, n, batch_size=batch_size, seed=seed))
    images = np.concatenate([p[0] for p in parts])
    labels = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
    return images, labels
