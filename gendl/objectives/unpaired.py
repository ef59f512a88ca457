"""What the unpaired translators (CycleGAN, DualGAN) share: the two domains, translation in
both directions, and the sample grid.

Data: domain a is the image feature config.model.domains[0] (default "image", the main
stream), domain b config.model.domains[1] (default "b/image", config.data.streams.b). The
streams have their own lengths and samplers, so the images of a step are not pairs even when
the folders hold pairs. Images arrive in [0, 1] from the train step and the networks work in
[-1, 1].

Predict functions: `translate_a2b` and `translate_b2a` (variables, x, rng=None) -> images in
[0, 1], and `translate` (= a2b), so `gendl.translate --direction=b2a` and the translation
evaluator (config.evals.<name>.direction) serve both directions.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gendl.data import paired_view
from gendl.data.errors import DataError
from gendl.models import unpaired as unpaired_models
from gendl.objectives import base
from gendl.objectives.pix2pix import to_signed, to_unit

GENERATOR_OF = {"a2b": "generator_ab", "b2a": "generator_ba"}
# The fixed key of the sample grid's noise (DualGAN's dropout), so grids differ only by training.
_GRID_KEY = 0


def l1(output, target):
    return jnp.mean(jnp.abs(output - target))


class UnpairedTranslation(base.Objective):
    ema_networks = unpaired_models.GENERATORS

    def __init__(self, config, networks, spec):
        # Not Objective.__init__'s spec.image_shape: the domains have their own features.
        self.config, self.networks, self.spec = config, networks, spec
        self.domains = unpaired_models.domains_of(config.model)
        self.image_shape = unpaired_models.domain_shape(spec, self.domains)

    def _generate(self, variables, name, x, rng):
        """The generator `name`'s output in [-1, 1] for x in [-1, 1], for inference."""
        raise NotImplementedError

    def _domain_images(self, batch, i=0):
        """Real batch i of the step: (a, b) in [-1, 1]."""
        a, b = (to_signed(batch[d][i]) for d in self.domains)
        return a, b

    # --- translation
    def translate_a2b(self, variables, x, rng=None):
        """Images x in [0, 1] of domain a -> their translations to domain b, in [0, 1]."""
        return to_unit(self._generate(variables, "generator_ab", to_signed(x), rng))

    def translate_b2a(self, variables, x, rng=None):
        return to_unit(self._generate(variables, "generator_ba", to_signed(x), rng))

    def predictors(self):
        return {
            "translate": self.translate_a2b,
            "translate_a2b": self.translate_a2b,
            "translate_b2a": self.translate_b2a,
        }

    def sample_noise(self, rng, n):
        """The grid's fixed inputs: the first n test pairs when the domains' folders pair
        files by name (else the first n test images of each domain), {"a", "b"} in [0, 1]."""
        del rng
        try:
            pairs = _test_or_train(
                lambda split: paired_view.test_pairs(self.config, self.domains, split)
            )
            a, b = _first(pairs, n, ("a", "b"))
        except paired_view.NoTruePairs:
            (a,), (b,) = (
                _first(paired_view.test_images(self.config, d), n, (d.rpartition("/")[2],))
                for d in self.domains
            )
            k = min(len(a), len(b))
            a, b = a[:k], b[:k]
        return {"a": a, "b": b}

    def sample(self, variables, noise):
        """Rows a | a -> b | b | b -> a, side by side: [n, H, 4 W, C] in [0, 1] (with true
        pairs, the first three are input | translation | target)."""
        a, b = noise["a"], noise["b"]
        key = jax.random.key(_GRID_KEY)
        return jnp.concatenate(
            [a, self.translate_a2b(variables, a, key), b, self.translate_b2a(variables, b, key)],
            axis=2,
        )


def _test_or_train(build):
    """build("test"), or build("train") when the test split is empty (a tiny folder)."""
    try:
        return build("test")
    except DataError as err:
        if "hold no images" not in str(err):
            raise
        return build("train")


def _first(source, n, names):
    """The first n examples of `source`, features `names` as float32 in [0, 1]."""
    batch = source.read(np.arange(min(n, len(source))), np.random.default_rng(0))
    return tuple(np.asarray(batch[k], np.float32) / 255.0 for k in names)
