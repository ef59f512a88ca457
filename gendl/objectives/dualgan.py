"""DualGAN (Yi et al. 2017, "DualGAN: Unsupervised Dual Learning for Image-to-Image
Translation"): a primal GAN translating domain a (the paper's U) to b (V) and a dual GAN
translating back, trained on unpaired images as Wasserstein GANs with weight clipping
(Arjovsky et al. 2017), with reconstruction losses closing the loop.

Losses (sec. 3, eq. 1-3), on the [-1, 1] scale, means over patches/pixels:
  critics:    D_b: mean D_b(G_ab(a)) - mean D_b(b);  D_a: mean D_a(G_ba(b)) - mean D_a(a)
  generators: lambda_a |a - G_ba(G_ab(a))|_1 + lambda_b |b - G_ab(G_ba(b))|_1
              - mean D_b(G_ab(a)) - mean D_a(G_ba(b))
(one loss for both generators, gradients to each). One train step, the paper's Algorithm 1:
`n_critic` critic steps, each on a fresh pair of real batches and fresh generator noise, both
critics' parameters clipped to [-c, c] after each; then one step of both generators on the
step's last real batches. RMSProp with learning rate 5e-5 (the paper; decay 0.9 as in the
reference code).

Settings (the paper gives ranges; the config takes the values of the authors' reference code
at the paper's release, github.com/duxingren14/DualGAN, commit 3b9f60f): n_critic 3 (paper:
"typically 2-4"), c = 0.01 (paper: [0.01, 0.1]), lambda_a = lambda_b = 200 (paper: "within
[100.0, 1,000.0]"), L1 reconstruction (the paper's choice of norm for images).

Networks (models/unpaired.py): pix2pix's U-Net generators, whose dropout is the noise z (on
in training and, with a key, when translating), and 70x70 PatchGAN critics with batch norm,
as in the paper. Batch statistics live in `state.model_state`; a critic's are advanced by its
own steps only.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.objectives import base, unpaired
from gendl.objectives.gan import clip_weights
from gendl.objectives.unpaired import l1

GENERATORS = ("generator_ab", "generator_ba")
CRITICS = ("discriminator_a", "discriminator_b")


def critic_loss(real, fake):
    """mean D(fake) - mean D(real): the critic's Wasserstein loss to minimise."""
    return jnp.mean(jnp.asarray(fake, jnp.float32)) - jnp.mean(jnp.asarray(real, jnp.float32))


class DualGan(unpaired.UnpairedTranslation):
    def __init__(self, config, networks, spec):
        super().__init__(config, networks, spec)
        cfg = config.objective
        self.n_critic = int(cfg.get("n_critic", 3))
        self.weight_clip = float(cfg.get("weight_clip", 0.01))
        self.lambda_a = float(cfg.get("lambda_a", 200.0))
        self.lambda_b = float(cfg.get("lambda_b", 200.0))
        if self.n_critic < 1 or self.weight_clip < 0:
            raise ConfigError(
                f"config.objective.n_critic must be >= 1 and weight_clip >= 0 (0: no clipping), "
                f"got {self.n_critic} and {self.weight_clip}."
            )
        self.batches_per_step = self.n_critic

    def init(self, rng):
        x = jnp.zeros((1, *self.image_shape), jnp.float32)
        out = {}
        keys = jax.random.split(rng, len(self.networks))
        for key, name in zip(keys, sorted(self.networks), strict=True):
            k_params, k_dropout = jax.random.split(key)
            rngs = {"params": k_params, "dropout": k_dropout}
            out[name] = dict(self.networks[name].init(rngs, x, train=False))
        return out

    def _generate(self, variables, name, x, rng):
        rngs = None if rng is None else {"dropout": rng}
        return self.networks[name].apply(
            variables[name], x, train=False, dropout=rng is not None, rngs=rngs
        )

    def _apply(self, name, params, model_state, x, rng=None):
        """(output, the network's new model_state) of a training forward pass."""
        net, state = self.networks[name], model_state[name]
        out, new = base.apply_network(net, params, state, x, train=True, rng=rng)
        return out, {**model_state, name: new}

    def update(self, state, ctx, batch, rng):
        params, opt_state = dict(state.params), dict(state.opt_state)
        model_state = dict(state.model_state)

        def critics_loss(c_params, model_state, a, b, fake_a, fake_b):
            ms, losses = model_state, {}
            for name, real, fake in (
                ("discriminator_a", a, fake_a),
                ("discriminator_b", b, fake_b),
            ):
                fake_out, ms = self._apply(name, c_params[name], ms, fake)
                real_out, ms = self._apply(name, c_params[name], ms, real)
                losses[name] = critic_loss(real_out, fake_out)
            loss = losses["discriminator_a"] + losses["discriminator_b"]
            return loss, (ms, {f"loss/{k}": v for k, v in losses.items()})

        # Unrolled (as in gan.py): XLA:CPU runs convolutions in a while loop much slower.
        c_metrics = []
        for i in range(self.n_critic):
            a, b = self._domain_images(batch, i)
            k_ab, k_ba = jax.random.split(jax.random.fold_in(rng, i))
            fake_b, model_state = self._apply(
                "generator_ab", params["generator_ab"], model_state, a, k_ab
            )
            fake_a, model_state = self._apply(
                "generator_ba", params["generator_ba"], model_state, b, k_ba
            )
            c_params = {name: params[name] for name in CRITICS}
            (_, (model_state, m)), grads = base.value_and_grad(critics_loss, has_aux=True)(
                c_params, model_state, a, b, fake_a, fake_b
            )
            for name in CRITICS:
                params[name], opt_state[name], norms = base.apply_gradients(
                    ctx.optimizers[name], params[name], opt_state[name], grads[name], name
                )
                if self.weight_clip:
                    params[name] = clip_weights(params[name], self.weight_clip)
                m.update(norms)
            c_metrics.append(m)

        a, b = self._domain_images(batch, self.n_critic - 1)
        keys = jax.random.split(jax.random.fold_in(rng, self.n_critic), 4)

        def g_loss_fn(g_params, model_state):
            ms = model_state
            fake_b, ms = self._apply("generator_ab", g_params["generator_ab"], ms, a, keys[0])
            fake_a, ms = self._apply("generator_ba", g_params["generator_ba"], ms, b, keys[1])
            rec_a, ms = self._apply("generator_ba", g_params["generator_ba"], ms, fake_b, keys[2])
            rec_b, ms = self._apply("generator_ab", g_params["generator_ab"], ms, fake_a, keys[3])
            # The critics' batch statistics are not advanced by the generators' step.
            d_b, _ = self._apply("discriminator_b", params["discriminator_b"], ms, fake_b)
            d_a, _ = self._apply("discriminator_a", params["discriminator_a"], ms, fake_a)
            adversarial = -jnp.mean(d_b) - jnp.mean(d_a)
            reconstruction_a, reconstruction_b = l1(rec_a, a), l1(rec_b, b)
            loss = adversarial + self.lambda_a * reconstruction_a + self.lambda_b * reconstruction_b
            metrics = {
                "loss/generators_adversarial": adversarial,
                "loss/reconstruction_a": reconstruction_a,
                "loss/reconstruction_b": reconstruction_b,
                "loss/generators": loss,
            }
            return loss, (ms, metrics)

        g_params = {name: params[name] for name in GENERATORS}
        (_, (model_state, metrics)), grads = base.value_and_grad(g_loss_fn, has_aux=True)(
            g_params, model_state
        )
        for name in GENERATORS:
            params[name], opt_state[name], norms = base.apply_gradients(
                ctx.optimizers[name], params[name], opt_state[name], grads[name], name
            )
            metrics.update(norms)
        critic = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *c_metrics)
        state = state.replace(params=params, opt_state=opt_state, model_state=model_state)
        return state, {**critic, **metrics}
