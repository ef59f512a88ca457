"""What an objective is, and the one way a network's parameters are updated.

An objective owns a model family's losses and its update rule (e.g. 5 critic steps then one
generator step). The trainer owns everything else: compilation, sharding, randomness per
step, the step counter, EMA, data, checkpoints and logging. An objective's methods are pure
functions of their arguments, so the trainer can `jax.jit` them over a device mesh.

Two views of the networks' weights:
  - training: `state.params` ({network: params}), `state.model_state` ({network: non-param
    collections such as batch_stats}) and `state.opt_state`, updated by `update`;
  - inference: `variables` = {network: flax variables dict}, from `state.variables()` (EMA
    parameters where present). `sample` and every method evaluators call take `variables`.

What else an objective may declare (each with a default that changes nothing):
  - `init_objective_state`: its own state (e.g. a path-length mean, a growing resolution's
    fade-in), kept in `state.objective_state`, checkpointed and sharded like the rest;
  - `frozen_networks`: pretrained networks it uses but never trains (e.g. a perceptual
    feature network), loaded once by the trainer and passed to every step as `ctx.frozen`;
  - `phases` and `phase(step)`: named kinds of step (ProGAN's resolutions, lazy
    regularisation every k steps, pretraining then adversarial training); the trainer
    compiles one step per phase and picks it on the host from the step count.
"""

import contextlib

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class StepContext:
    """What a train step hands `Objective.update` besides the state, batch and key.

    `optimizers` ({network: optax transformation}, learning rates bound to this step) and
    `phase` are static: a different phase is a different compiled step. `frozen` ({network:
    params} of `Objective.frozen_networks`) is an argument of the compiled step, so a
    pretrained network is neither a compile-time constant nor part of the checkpoint.
    """

    optimizers: dict = flax.struct.field(pytree_node=False)
    phase: str = flax.struct.field(pytree_node=False, default="train")
    frozen: dict = flax.struct.field(default_factory=dict)


class Objective:
    """Base class; subclasses set `networks` and implement `init`, `update`, `sample`."""

    # Real batches one train step consumes (a WGAN-GP step uses one per critic step).
    batches_per_step = 1
    # False for objectives that only score images (a classifier): no sample grids.
    generates_images = True
    # True when `sample` takes class labels (i % num_classes for sample i when not given).
    conditional = False

    def __init__(self, config, networks: dict, spec):
        self.config = config
        self.networks = networks
        self.spec = spec  # gendl.data.spec.DataSpec: the features of one example
        self.image_shape = spec.image_shape

    def init(self, rng) -> dict:
        """Returns {network name: flax variables} ({"params": ..., maybe "batch_stats": ...})."""
        raise NotImplementedError

    def init_objective_state(self, rng) -> dict:
        """The objective's own state at step 0 (a pytree of arrays; `{}`: none)."""
        del rng
        return {}

    def frozen_networks(self) -> dict:
        """{network name: loader}; `loader()` returns the flax params of a network the
        objective uses but never trains. The trainer calls each loader once per run."""
        return {}

    def phases(self) -> tuple:
        """The names of the kinds of step this objective takes; one compiled step each."""
        return ("train",)

    def phase(self, step: int) -> str:
        """The phase of train step `step` (steps done before it), decided on the host. A
        pure function of `step`, so a resumed run takes the same phase at the same step."""
        del step
        (only,) = self.phases()
        return only

    def batches_at(self, step: int) -> int:
        """Real batches train step `step` consumes: `batches_per_step`, unless the objective
        varies it by phase (WGAN's critic bursts). Equal for all steps of one phase."""
        del step
        return self.batches_per_step

    def batches_before(self, step: int) -> int:
        """Real batches steps 0 .. step-1 consumed: the data position at `step`, in closed
        form (the sum of `batches_at`), so that a run resumes exactly where it stopped."""
        return step * self.batches_per_step

    def update(self, state, ctx, batch, rng):
        """One train step: returns (state, metrics dict of scalars).

        `state` is the `TrainState` before the step (`state.step` counts steps done, for
        schedules such as a KL warm-up); return it with new params, opt_state, model_state
        and objective_state. The trainer advances `step` and the EMA. `ctx` is the
        `StepContext` (optimisers, phase, frozen networks); `rng` is this step's key
        (derived from seed and step). A step's metrics may differ between phases."""
        raise NotImplementedError

    def sample(self, variables, noise):
        """Images in [0, 1], shape [n, *image_shape], from `noise` = self.sample_noise(...)."""
        raise NotImplementedError

    def sample_noise(self, rng, n):
        raise NotImplementedError

    def predictors(self) -> dict:
        """The pure predict functions this family provides, by name; evaluators, feature
        extractors and the CLIs use only these (gendl.evaluation.predict). Names:
          sample(variables, noise[, labels]) -> images in [0, 1] (labels: conditional only;
              for latent-variable models noise is a code and this is the decoder's mean)
          sample_noise(rng, n) -> noise for `sample`
          sample_truncated(variables, noise, psi[, labels]) -> `sample` with the latent
              truncated towards its mean by psi (StyleGAN2; gendl.sample --truncation)
          encode(variables, x, labels=None) -> code [n, d] (a VAE's posterior mean)
          reconstruct(variables, x, labels=None) -> images, through the mean code
          log_weights(variables, x, labels, rng, n) -> [b, n] importance log-weights
          elbo(variables, x, labels, rng) -> [b] single-sample ELBO
          classify(variables, x) -> class logits [n, K]
          features(variables, x) -> (features [n, D], logits [n, K])
          latents(rng, n) -> (z, labels or None): interpolation end points (GANs)
          traversal_noise(rng, steps) -> {picture: (noise, columns)} (InfoGAN)
          categorical_code(noise) -> [n] the categorical latent code of each noise (InfoGAN)
        """
        return {}


class EncoderDecoder:
    """For objectives with `encode(variables, x)` and `decode_mean(variables, code)` whose
    samples are decoded prior draws (autoencoders, AAE, BiGAN): reconstruction and the
    predict functions their evaluators use."""

    def reconstruct(self, variables, x, labels=None):
        return self.decode_mean(variables, self.encode(variables, x))

    def predictors(self):
        return {
            "sample": self.sample,
            "sample_noise": self.sample_noise,
            "encode": self.encode,
            "reconstruct": self.reconstruct,
        }


# The static loss scale of the step being traced (see `loss_scaling`); 1: none.
_LOSS_SCALE = [1.0]


@contextlib.contextmanager
def loss_scaling(scale: float):
    """Sets the static loss scale for the gradients taken while tracing inside the block.

    The trainer wraps its train step in this (config.model.loss_scale, for float16), so no
    objective handles scaling itself. It is read when `value_and_grad` traces, so a jitted
    step compiles the scale in as a constant.
    """
    previous = _LOSS_SCALE[0]
    _LOSS_SCALE[0] = float(scale)
    try:
        yield
    finally:
        _LOSS_SCALE[0] = previous


def value_and_grad(fun, argnums=0, has_aux=False):
    """`jax.value_and_grad`, the one place objectives take gradients, so that numerics
    policies that wrap every backward pass apply to all.

    Under `loss_scaling(s)` with s != 1 the loss is multiplied by s before differentiation,
    so that the float16 cotangents flowing back through the network stay above float16's
    underflow, and the gradients (float32, like the parameters) are divided by s again. The
    returned value is the unscaled loss. Static scaling: a scale so large that a gradient
    overflows shows up as a non-finite gradient norm, which stops training with a message.
    """

    def wrapped(*args, **kwargs):
        scale = _LOSS_SCALE[0]
        if scale == 1.0:
            return jax.value_and_grad(fun, argnums=argnums, has_aux=has_aux)(*args, **kwargs)

        def scaled(*a, **k):
            out = fun(*a, **k)
            loss, aux = out if has_aux else (out, None)
            return loss.astype(jnp.float32) * scale, (loss, aux)

        (_, (loss, aux)), grads = jax.value_and_grad(scaled, argnums=argnums, has_aux=True)(
            *args, **kwargs
        )
        grads = jax.tree.map(lambda g: (g.astype(jnp.float32) / scale).astype(g.dtype), grads)
        return ((loss, aux) if has_aux else loss), grads

    return wrapped


def grad(fun, argnums=0, has_aux=False):
    """Gradients only, through `value_and_grad`."""
    vg = value_and_grad(fun, argnums=argnums, has_aux=has_aux)

    def g(*args, **kwargs):
        out, grads = vg(*args, **kwargs)
        return (grads, out[1]) if has_aux else grads

    return g


def apply_network(module, params, model_state, *args, train, rng=None):
    """(output, new model_state) of a network call with its non-parameter state: in training
    the batch statistics / spectral vectors are updated, in evaluation the stored ones are
    used. `rng` feeds dropout."""
    variables = {"params": params, **model_state}
    rngs = {"dropout": rng} if rng is not None else None
    if train and model_state:
        out, new = module.apply(variables, *args, train=True, mutable=list(model_state), rngs=rngs)
        return out, dict(new)
    return module.apply(variables, *args, train=train, rngs=rngs), model_state


def apply_gradients(tx: optax.GradientTransformation, params, opt_state, grads, name: str):
    """Applies one optimiser step and reports the norms a practitioner watches."""
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    metrics = {
        f"grad_norm/{name}": optax.global_norm(grads),
        f"param_norm/{name}": optax.global_norm(params),
    }
    return params, opt_state, metrics


def update_network(name, loss_fn, params, opt_state, optimizers):
    """One optimiser step of network `name` on `loss_fn(params[name]) -> (loss, metrics)`:
    returns (its new params, its new optimiser state, the loss's metrics and the norms)."""
    grads, metrics = grad(loss_fn, has_aux=True)(params[name])
    p, o, norms = apply_gradients(optimizers[name], params[name], opt_state[name], grads, name)
    return p, o, {**metrics, **norms}


def update_through(ctx, name, loss_fn, output, pullback, params, opt_state):
    """One optimiser step of network `name` on `loss_fn(output) -> (loss, metrics)`, the
    gradient taken through `pullback` (the vjp of the forward pass that made `output`, so that
    pass runs once for both networks' steps). Returns (params, opt_state, metrics + norms)."""
    (_, metrics), cotangent = value_and_grad(loss_fn, has_aux=True)(output)
    (grads,) = pullback(cotangent)
    p, o, norms = apply_gradients(ctx.optimizers[name], params[name], opt_state[name], grads, name)
    return p, o, {**metrics, **norms}


def discriminator_step(ctx, apply, params, opt_state, collections, real, fake, loss):
    """One optimiser step of the network "discriminator" on `real` and `fake` (tuples of its
    inputs), scored in two passes, fake first, so that batch norm normalises each set on its
    own, as the pix2pix and SRGAN reference code do. `apply(params, collections, *inputs)` ->
    (logits, new collections) is a training forward pass; `loss(real_logits, fake_logits)`.
    Returns (params, opt_state, collections, metrics)."""

    def loss_fn(p):
        fake_logits, c = apply(p, collections, *fake)
        real_logits, c = apply(p, c, *real)
        value = loss(real_logits, fake_logits)
        metrics = {
            "loss/discriminator": value,
            "d_real": jnp.mean(real_logits),
            "d_fake": jnp.mean(fake_logits),
        }
        return value, (c, metrics)

    (_, (collections, metrics)), grads = value_and_grad(loss_fn, has_aux=True)(params)
    params, opt_state, norms = apply_gradients(
        ctx.optimizers["discriminator"], params, opt_state, grads, "discriminator"
    )
    return params, opt_state, collections, {**metrics, **norms}


def init_networks(networks: dict, rng, example_inputs: dict, **kwargs) -> dict:
    """Initialises each network on its example input with its own key; returns
    {network name: flax variables}."""
    keys = jax.random.split(rng, len(networks))
    return {
        name: dict(networks[name].init(key, *example_inputs[name], **kwargs))
        for key, name in zip(keys, sorted(networks), strict=True)
    }
