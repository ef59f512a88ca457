"""Supervised image classification: softmax cross-entropy, accuracy as a metric.

gendl trains its own domain classifiers with it (configs/classifier.py): their features and
class probabilities are what FID, KID, IS and precision/recall measure generated images with
(gendl.evaluation.extractors). Light augmentation is optional: random shifts by up to
`objective.shift` pixels (zero padding), and for Fashion-MNIST optional horizontal flips.
"""

import jax
import jax.numpy as jnp
import optax

from gendl.objectives import base


def random_shift(rng, x, max_shift):
    """Shifts each image by an integer offset in [-max_shift, max_shift]^2, zero-filled."""
    n, h, w, _ = x.shape
    padded = jnp.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
    offsets = jax.random.randint(rng, (n, 2), 0, 2 * max_shift + 1)
    crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, x.shape[-1]))
    return jax.vmap(crop)(padded, offsets)


class Classifier(base.Objective):
    # The trainer writes no sample grids for it: a classifier generates nothing.
    generates_images = False

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        self.net = networks["classifier"]
        cfg = config.objective
        self.shift = int(cfg.get("shift", 0))
        self.flip = bool(cfg.get("flip", False))

    def init(self, rng):
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        return base.init_networks(self.networks, rng, {"classifier": (x,)})

    def apply(self, variables, x):
        """(features, logits) of images in [0, 1], dropout off."""
        return self.net.apply(variables["classifier"], x)

    def classify(self, variables, x):
        """Class logits (what the classification evaluator scores)."""
        return self.apply(variables, x)[1]

    def predictors(self):
        return {"classify": self.classify, "features": self.apply}

    def sample_noise(self, rng, n):
        del rng, n
        return None

    def sample(self, variables, noise):
        raise NotImplementedError("A classifier objective does not generate images.")

    def augment(self, rng, x):
        k_shift, k_flip = jax.random.split(rng)
        if self.shift:
            x = random_shift(k_shift, x, self.shift)
        if self.flip:
            flip = jax.random.bernoulli(k_flip, 0.5, (x.shape[0], 1, 1, 1))
            x = jnp.where(flip, x[:, :, ::-1], x)
        return x

    def update(self, state, ctx, batch, rng):
        k_aug, k_drop = jax.random.split(rng)
        x = self.augment(k_aug, batch["image"][0])
        labels = batch["label"][0]

        def loss_fn(p):
            _, logits = self.net.apply({"params": p}, x, train=True, rngs={"dropout": k_drop})
            loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
            accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
            return loss, {"loss/classifier": loss, "accuracy": accuracy}

        grads, metrics = base.grad(loss_fn, has_aux=True)(state.params["classifier"])
        p, o, norms = base.apply_gradients(
            ctx.optimizers["classifier"],
            state.params["classifier"],
            state.opt_state["classifier"],
            grads,
            "classifier",
        )
        state = state.replace(params={"classifier": p}, opt_state={"classifier": o})
        return state, {**metrics, **norms}
