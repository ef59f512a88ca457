"""Semi-supervised GAN with feature matching (Salimans et al. 2016, "Improved Techniques for
Training GANs", section 5 and their code train_mnist_feature_matching.py).

The discriminator is a (K+1)-class classifier written with K logits l_1..l_K: the "fake"
class has its logit fixed at 0, so with Z(x) = sum_k exp(l_k(x)) the probability of "real" is
D(x) = Z/(Z+1). Its loss per step, on a labelled batch, an unlabelled batch and a batch of
generated images:
    supervised:    E_lab[logsumexp(l) - l_y]                       (K-class cross-entropy)
    unsupervised:  -0.5 E_unl[log D(x)] - 0.5 E_fake[log(1 - D(G(z)))]
                 = 0.5 E_unl[-lse + softplus(lse)] + 0.5 E_fake[softplus(lse)],  lse = logsumexp(l)
The generator matches the mean of the discriminator's last hidden features on a second
unlabelled batch (feature matching): || E f(x) - E f(G(z)) ||^2, averaged over features.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gendl.data import sampler, source
from gendl.objectives import base

_INIT_STREAM = 7_003  # mixed into the seed to pick the initialisation batch


def supervised_loss(logits, labels):
    """Mean K-class cross-entropy of the labelled batch."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def unsupervised_loss(logits_real, logits_fake):
    """The (K+1)-class GAN loss via the logsumexp trick: D(x) = Z(x) / (Z(x) + 1)."""
    lse_real = jax.nn.logsumexp(logits_real, axis=-1)
    lse_fake = jax.nn.logsumexp(logits_fake, axis=-1)
    # -log D = -lse + log(1 + Z) = -lse + softplus(lse);  -log(1 - D) = softplus(lse).
    real_term = jnp.mean(jax.nn.softplus(lse_real) - lse_real)
    return 0.5 * real_term + 0.5 * jnp.mean(jax.nn.softplus(lse_fake))


def feature_matching_loss(features_real, features_fake):
    """Squared distance of the batch-mean features, averaged over feature dimensions."""
    return jnp.mean(jnp.square(jnp.mean(features_real, 0) - jnp.mean(features_fake, 0)))


def _init_images(config, n):
    """`n` training images in [0, 1], fixed by the seed: the batch the discriminator's
    data-dependent initialisation sees (the paper's code uses 500)."""
    images, _ = source.load_split(
        config.data.name,
        config.data.split,
        manual_dir=config.data.manual_dir or None,
        data_dir=config.data.data_dir or None,
    )
    index = np.random.default_rng([config.seed, _INIT_STREAM]).permutation(len(images))[:n]
    return np.asarray(sampler.to_float(images[np.sort(index)]))


class SemiSupervisedGan(base.Objective):
    """Per step: one discriminator step (labelled + unlabelled + generated batches), then one
    generator step on a second unlabelled batch, as in the paper's code."""

    # Two unlabelled batches a step: one for the discriminator, one for feature matching.
    batches_per_step = 2
    # config.ema.decay averages the discriminator: the paper's code classifies the test set
    # with a Polyak average of its parameters (decay 0.9999).
    ema_networks = ("discriminator",)

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        self.z_dim = int(config.model.z_dim)
        self.unlabelled_weight = float(config.objective.unlabelled_weight)
        self.generator = networks["generator"]
        self.discriminator = networks["discriminator"]
        self.init_images = _init_images(config, int(config.objective.init_examples))

    def init(self, rng):
        k_g, k_d, k_noise = jax.random.split(rng, 3)
        z = self.sample_noise(rng, 2)  # two rows: batch norm needs a batch
        # Data-dependent initialisation of the weight-normalised discriminator (with its
        # noise on, as in the paper's code) on a fixed batch of training images.
        x = jnp.asarray(self.init_images)
        return {
            "generator": dict(self.generator.init(k_g, z)),
            "discriminator": dict(
                self.discriminator.init({"params": k_d, "noise": k_noise}, x, train=True)
            ),
        }

    def sample_noise(self, rng, n):
        return jax.random.uniform(rng, (n, self.z_dim))  # the paper's code: U(0, 1)^100

    def sample(self, variables, noise):
        return self.generator.apply(variables["generator"], noise)

    def classify(self, variables, x):
        """Class logits [n, K] of the discriminator without its noise (the test classifier)."""
        return self.discriminator.apply(variables["discriminator"], x)[0]

    def features(self, variables, x):
        """(features, class logits) of the discriminator without its noise."""
        logits, features = self.discriminator.apply(variables["discriminator"], x)
        return features, logits

    def predictors(self):
        return {
            "sample": self.sample,
            "sample_noise": self.sample_noise,
            "classify": self.classify,
            "features": self.features,
        }

    def _disc(self, d_params, x, rng):
        return self.discriminator.apply({"params": d_params}, x, train=True, rngs={"noise": rng})

    def update(self, state, ctx, batch, rng):
        params, opt_state = state.params, state.opt_state
        unl_d, unl_g = batch["image"][0], batch["image"][1]
        x_lab, y_lab = batch["labelled_image"][0], batch["labelled_label"][0]
        n, n_lab = unl_d.shape[0], x_lab.shape[0]
        k_zd, k_nd, k_zg, k_ng = jax.random.split(rng, 4)
        g_params = params["generator"]
        fake = self.generator.apply({"params": g_params}, self.sample_noise(k_zd, n))

        def disc_loss(d_params):
            # One pass over all three batches; the noise is independent per example anyway.
            logits, _ = self._disc(d_params, jnp.concatenate([x_lab, unl_d, fake]), k_nd)
            l_lab, l_unl, l_fake = jnp.split(logits, [n_lab, n_lab + n])
            sup = supervised_loss(l_lab, y_lab)
            unsup = unsupervised_loss(l_unl, l_fake)
            loss = sup + self.unlabelled_weight * unsup
            return loss, {
                "loss/discriminator": loss,
                "loss/supervised": sup,
                "loss/unsupervised": unsup,
                "train_error/labelled": jnp.mean(jnp.argmax(l_lab, -1) != y_lab),
                "d_real": jnp.mean(jax.nn.sigmoid(jax.nn.logsumexp(l_unl, -1))),
                "d_fake": jnp.mean(jax.nn.sigmoid(jax.nn.logsumexp(l_fake, -1))),
            }

        d_params, d_opt, d_metrics = base.update_network(
            "discriminator", disc_loss, params, opt_state, ctx.optimizers
        )

        z = self.sample_noise(k_zg, n)

        def gen_loss(p):
            fake = self.generator.apply({"params": p}, z)
            _, feats = self._disc(d_params, jnp.concatenate([unl_g, fake]), k_ng)
            f_real, f_fake = jnp.split(feats, 2)
            return feature_matching_loss(jax.lax.stop_gradient(f_real), f_fake)

        g_loss, g_grads = base.value_and_grad(gen_loss)(g_params)
        g_params, g_opt, g_norms = base.apply_gradients(
            ctx.optimizers["generator"], g_params, opt_state["generator"], g_grads, "generator"
        )
        metrics = {**d_metrics, **g_norms, "loss/generator": g_loss}
        state = state.replace(
            params={"generator": g_params, "discriminator": d_params},
            opt_state={"generator": g_opt, "discriminator": d_opt},
        )
        return state, metrics
