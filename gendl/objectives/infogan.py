"""InfoGAN (Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by Information
Maximizing Generative Adversarial Nets").

The generator's input is [z, c]: incompressible noise z and a latent code c made of one
K-way categorical code (one-hot) and C continuous codes ~ U(-1, 1). A Q head on the
discriminator's trunk predicts c from G(z, c); maximising the variational lower bound
    L_I = E[log Q(c | G(z, c))] + H(c)  <=  I(c; G(z, c))
ties the codes to factors of variation. log Q is a categorical log-likelihood for the
categorical code and a fixed-unit-variance Gaussian log-likelihood for the continuous codes
(the paper's code with fix_std=True), so -L_I is, up to constants,
    lambda_cat * CE(q_categorical, c_cat) + lambda_cont * 0.5 * sum_j (c_j - mu_j)^2.
Both D (trunk and Q head) and G minimise their GAN loss plus that term (Chen et al. eq. 5).

`objective.code_augment` (gendl's addition; `configs/infogan.py` sets it, its `:paper` does
not): Q reads the categorical code from a randomly rotated, scaled and shifted copy of each
generated image (`augment/affine.py`), in both networks' steps, so the code can only be carried
by what such warps keep — a digit's class, not its slant, size or place — as clustering
methods that find MNIST's classes ask of their clusters (IIC, IMSAT). The GAN loss and the
continuous codes see the plain images.

Networks with batch norm (the paper's conv networks, `models/infogan_conv.py`) take a `train`
flag and keep their statistics in `state.model_state`, advanced as in the GAN objective: the
generator's by each of its training passes, the discriminator's by its own step only (real
and fake batches normalised apart). Networks without such state (the MLPs) are called as
plain functions of their params.
"""

import jax
import jax.numpy as jnp
import optax

from gendl.augment import affine
from gendl.config import ConfigError
from gendl.objectives import base, gan_losses


def categorical_code_loss(logits, codes):
    """-E log Q(c_cat | x): cross-entropy of Q's logits against the sampled category."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, codes))


def continuous_code_loss(means, codes):
    """-E log Q(c_cont | x) + const for a unit-variance Gaussian Q: half the squared error,
    summed over codes and averaged over the batch."""
    return jnp.mean(0.5 * jnp.sum(jnp.square(codes - means), axis=-1))


class InfoGan(base.Objective):
    ema_networks = ("generator",)  # config.ema.decay > 0: samples from averaged weights

    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        m, o = config.model, config.objective
        self.noise_dim = int(m.noise_dim)
        self.num_categories = int(m.num_categories)
        self.num_continuous = int(m.num_continuous)
        self.lambda_cat = float(o.lambda_categorical)
        self.lambda_cont = float(o.lambda_continuous)
        self.loss = o.get("loss", "non_saturating")
        # The incompressible noise z: "normal" N(0, 1), or "uniform" U(-1, 1) as in the
        # paper's code (openai/InfoGAN's Uniform(62)).
        self.noise_distribution = o.get("noise_distribution", "normal")
        if self.noise_distribution not in ("normal", "uniform"):
            raise ConfigError(
                f"config.objective.noise_distribution={self.noise_distribution!r}; use "
                "'normal' (z ~ N(0, 1)) or 'uniform' (z ~ U(-1, 1), the paper's code)."
            )
        # (rotation degrees, scale spread, shift pixels) or None: see the module docstring.
        ranges = affine.parse(o.get("code_augment", None))
        self.code_augment = ranges if any(ranges) else None
        if self.num_categories < 1:
            raise ConfigError(
                f"config.model.num_categories={self.num_categories}: InfoGAN needs a "
                "categorical code with at least one category."
            )
        self.generator, self.discriminator = networks["generator"], networks["discriminator"]

    @property
    def input_dim(self):
        return self.noise_dim + self.num_categories + self.num_continuous

    def init(self, rng):
        z = jnp.zeros((1, self.input_dim), jnp.float32)
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        return base.init_networks(self.networks, rng, {"generator": (z,), "discriminator": (x,)})

    def generator_input(self, z, categories, continuous):
        """[z, one_hot(category), continuous codes]: the generator's input vector."""
        one_hot = jax.nn.one_hot(categories, self.num_categories, dtype=z.dtype)
        return jnp.concatenate([z, one_hot, continuous], axis=-1)

    def sample_codes(self, rng, n):
        kz, kc, ku = jax.random.split(rng, 3)
        if self.noise_distribution == "uniform":
            z = jax.random.uniform(kz, (n, self.noise_dim), minval=-1.0, maxval=1.0)
        else:
            z = jax.random.normal(kz, (n, self.noise_dim))
        cat = jax.random.randint(kc, (n,), 0, self.num_categories)
        cont = jax.random.uniform(ku, (n, self.num_continuous), minval=-1.0, maxval=1.0)
        return z, cat, cont

    def sample_noise(self, rng, n):
        return self.generator_input(*self.sample_codes(rng, n))

    def sample(self, variables, noise):
        return jax.nn.sigmoid(self.generator.apply(variables["generator"], noise, train=False))

    def traversal_noise(self, rng, code, steps=10, span=2.0):
        """Generator inputs for one traversal picture: row k has category k, columns sweep
        continuous code `code` over [-span, span] (beyond the training range U(-1, 1), as in
        the paper's Fig. 2); z and the other continuous codes are fixed for the whole picture."""
        z, _, cont = self.sample_codes(rng, 1)
        k = self.num_categories
        cat = jnp.repeat(jnp.arange(k), steps)
        cont = jnp.tile(cont, (k * steps, 1))
        sweep = jnp.tile(jnp.linspace(-span, span, steps), k)
        cont = cont.at[:, code].set(sweep)
        return self.generator_input(jnp.tile(z, (k * steps, 1)), cat, cont)

    def traversal_pictures_noise(self, rng, steps):
        """{picture name: (generator inputs, columns)}: one traversal per continuous code, and
        "categorical" with the category across the columns, a fresh z and continuous code
        per row (`steps` rows)."""
        out = {
            f"continuous{code}": (self.traversal_noise(rng, code, steps), steps)
            for code in range(self.num_continuous)
        }
        k = self.num_categories
        z, _, cont = self.sample_codes(jax.random.fold_in(rng, 1), steps)
        cat = jnp.tile(jnp.arange(k), steps)
        out["categorical"] = (
            self.generator_input(jnp.repeat(z, k, 0), cat, jnp.repeat(cont, k, 0)),
            k,
        )
        return out

    def categorical_code(self, noise):
        """The category of each generator input of `sample_noise` (its one-hot slice)."""
        return jnp.argmax(noise[:, self.noise_dim : self.noise_dim + self.num_categories], -1)

    def cluster(self, variables, x):
        """Q's categorical logits [n, K] for images x (batch norm on its running averages):
        the code as a classifier of real digits (the paper's 5% error, sec. 7.1)."""
        return self.discriminator.apply(variables["discriminator"], x, train=False)[1]

    def predictors(self):
        return {
            "cluster": self.cluster,
            "sample": self.sample,
            "sample_noise": self.sample_noise,
            "categorical_code": self.categorical_code,
            "traversal_noise": self.traversal_pictures_noise,
        }

    def _mutual_information_loss(self, cat_logits, cont_means, cat, cont):
        cat_loss = categorical_code_loss(cat_logits, cat)
        cont_loss = continuous_code_loss(cont_means, cont) if self.num_continuous else 0.0
        return self.lambda_cat * cat_loss + self.lambda_cont * cont_loss, cat_loss, cont_loss

    def _categorical_view(self, disc, p, s, fake, q_cat, rng):
        """Q's categorical logits for the code: of the images themselves, or with
        `code_augment`, of warped copies (batch norm on their own statistics, not kept)."""
        if self.code_augment is None:
            return q_cat
        warped = affine.random_affine(fake, rng, *self.code_augment)
        (_, q_cat_warped, _), _ = disc(p, s, warped)
        return q_cat_warped

    def update(self, state, ctx, batch, rng):
        params, opt_state = state.params, state.opt_state
        g_state = state.model_state.get("generator", {})
        d_state = state.model_state.get("discriminator", {})
        real = batch["image"][0]
        n = real.shape[0]
        disc = lambda p, s, x: base.apply_network(self.discriminator, p, s, x, train=True)

        def gen(p, s, z):
            logits, s = base.apply_network(self.generator, p, s, z, train=True)
            return jax.nn.sigmoid(logits), s

        k_d, k_g = jax.random.split(rng)
        # Folded in, not split, so runs without code_augment keep their random stream.
        k_da, k_ga = jax.random.split(jax.random.fold_in(rng, 1))

        z, cat, cont = self.sample_codes(k_d, n)
        fake, g_state = gen(params["generator"], g_state, self.generator_input(z, cat, cont))

        def d_loss_fn(p):
            (l_real, _, _), s = disc(p, d_state, real)
            (l_fake, q_cat, q_cont), s = disc(p, s, fake)
            gan = gan_losses.discriminator_loss(self.loss, l_real, l_fake)
            q_code = self._categorical_view(disc, p, s, fake, q_cat, k_da)
            mi, cat_loss, cont_loss = self._mutual_information_loss(q_code, q_cont, cat, cont)
            metrics = {
                "loss/discriminator": gan,
                "mi/categorical_ce": cat_loss,
                "mi/continuous_mse": cont_loss,
                "q_categorical_accuracy": jnp.mean(jnp.argmax(q_cat, -1) == cat),
            }
            if self.code_augment is not None:  # Q's accuracy on the warped copies it learns from
                metrics["q_categorical_accuracy_warped"] = jnp.mean(jnp.argmax(q_code, -1) == cat)
            return gan + mi, (s, metrics)

        d_grads, (d_state, d_metrics) = base.grad(d_loss_fn, has_aux=True)(params["discriminator"])
        d_params, d_opt, d_norms = base.apply_gradients(
            ctx.optimizers["discriminator"],
            params["discriminator"],
            opt_state["discriminator"],
            d_grads,
            "discriminator",
        )

        z, cat, cont = self.sample_codes(k_g, n)
        g_in = self.generator_input(z, cat, cont)

        def g_loss_fn(p):
            fake, new_g_state = gen(p, g_state, g_in)
            # The discriminator's statistics are not advanced by the generator's step.
            (l_fake, q_cat, q_cont), _ = disc(d_params, d_state, fake)
            gan = gan_losses.generator_loss(self.loss, l_fake)
            q_code = self._categorical_view(disc, d_params, d_state, fake, q_cat, k_ga)
            mi, _, _ = self._mutual_information_loss(q_code, q_cont, cat, cont)
            return gan + mi, (gan, new_g_state)

        (_, (g_gan, g_state)), g_grads = base.value_and_grad(g_loss_fn, has_aux=True)(
            params["generator"]
        )
        g_params, g_opt, g_norms = base.apply_gradients(
            ctx.optimizers["generator"],
            params["generator"],
            opt_state["generator"],
            g_grads,
            "generator",
        )
        metrics = {**d_metrics, **d_norms, **g_norms, "loss/generator": g_gan}
        model_state = {
            name: s for name, s in (("generator", g_state), ("discriminator", d_state)) if s
        }
        state = state.replace(
            params={"generator": g_params, "discriminator": d_params},
            opt_state={"generator": g_opt, "discriminator": d_opt},
            model_state=model_state,
        )
        return state, metrics
