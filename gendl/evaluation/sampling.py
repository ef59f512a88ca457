"""Drawing many samples from a generative model's predict functions in fixed-size batches (for
sample-quality metrics and `gendl.sample`), with fixed noise so figures at different steps are
comparable."""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.monitoring import images as images_lib


def generate(
    sample, sample_noise, variables, n, *, num_classes=None, batch_size=500, seed=0, code_of=None
):
    """`sample`, `sample_noise`: the model's predict functions; `num_classes`: the classes of
    a conditional model (None: unconditional); `variables` from `state.variables()` (EMA
    weights where the run keeps them); `code_of(noise) -> [b]` (unconditional models with a
    categorical latent code, InfoGAN's predict function `categorical_code`): yields each
    sample's code in place of the labels.

    Yields (uint8 images [b, H, W, C], requested labels (or codes) [b] or None) until n images.

    Conditional models are asked for the classes in turn (label i % K for sample i), so every
    class gets n / K samples. Sample i's noise is drawn with fold_in(key(seed), i).
    """
    k = num_classes
    sample = jax.jit(sample)
    key = jax.random.key(seed)
    # Sample i's noise comes from fold_in(key, i): the images do not depend on batch_size.
    noise_of = jax.jit(
        jax.vmap(
            lambda i: jax.tree.map(lambda a: a[0], sample_noise(jax.random.fold_in(key, i), 1))
        )
    )
    for start in range(0, n, batch_size):
        noise = noise_of(start + jnp.arange(batch_size))
        valid = min(batch_size, n - start)
        if k is None:
            images, labels = sample(variables, noise), None
            if code_of is not None:
                labels = np.asarray(code_of(noise))[:valid]
        else:
            labels = (start + jnp.arange(batch_size)) % k
            if isinstance(noise, dict) and "label" in noise:  # grid noise that carries labels
                noise = {**noise, "label": labels}
            images = sample(variables, noise, labels)
            labels = np.asarray(labels)[:valid]
        yield images_lib.to_uint8(np.asarray(jax.device_get(images))[:valid]), labels


def generate_all(sample, sample_noise, variables, n, *, num_classes=None, batch_size=500, seed=0):
    """All n samples at once: (uint8 images [n, H, W, C], labels [n] or None)."""
    parts = list(
        generate(
            sample,
            sample_noise,
            variables,
            n,
            num_classes=num_classes,
            batch_size=batch_size,
            seed=seed,
        )
    )
    images = np.concatenate([p[0] for p in parts])
    labels = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
    return images, labels
