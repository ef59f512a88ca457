"""BiGAN's networks and step with the paper's options: the options off give the networks of
before, batch norm normalises with the batch in training and with running averages in
evaluation, codes lie in the prior's support, and each of G and E learns only through its own
input of the joint discriminator."""

import math

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from gendl import models
from gendl.data.spec import DataSpec
from gendl.models import latent_mlp, mlp_vae
from gendl.objectives import base, bigan
from gendl.training import state as state_lib

SPEC = DataSpec.of_images((28, 28, 1))


def _paper_cfg(**kw):
    # configs/bigan.py's model options on small layers.
    cfg = dict(
        name="bigan_mlp",
        z_dim=5,
        g_hidden=(16, 16),
        e_hidden=(16, 16),
        d_hidden=(16, 16),
        d_z_hidden=(),
        g_z_skip=True,
        batch_norm=True,
        bounded_code=True,
        init_std=0.02,
        e_leak=0.2,
    )
    return ml_collections.ConfigDict({**cfg, **kw})


def test_options_off_give_the_mlp_vae_networks():
    z, x = jax.random.uniform(jax.random.key(0), (3, 5)), jnp.full((3, 28, 28, 1), 0.3)
    pairs = [
        (latent_mlp.MlpGenerator((16, 8), (28, 28, 1)), mlp_vae.MlpDecoder((16, 8), (28, 28, 1))),
        (
            latent_mlp.MlpCodeEncoder((16, 8), 5),
            mlp_vae.MlpEncoder((16, 8), 5, "leaky_relu", False),
        ),
    ]
    for (new, old), inp in zip(pairs, (z, x), strict=True):
        v_new, v_old = new.init(jax.random.key(1), inp), old.init(jax.random.key(1), inp)
        chex.assert_trees_all_equal(v_new, v_old)
        chex.assert_trees_all_close(new.apply(v_new, inp), old.apply(v_old, inp), rtol=1e-6)


def test_batch_norm_uses_the_batch_in_training_and_running_averages_in_evaluation():
    g = models.build(_paper_cfg(), SPEC)["generator"]
    z = jax.random.uniform(jax.random.key(0), (8, 5), minval=-1, maxval=1)
    v = g.init(jax.random.key(1), z)
    assert "batch_stats" in v
    # Parameter-free: no scale or shift among the parameters.
    assert not any("bn" in k for k in v["params"])
    z2 = z.at[1:].set(-z[1:])  # same first sample, different rest of the batch
    train = lambda zz: g.apply(v, zz, train=True, mutable=["batch_stats"])
    (a, stats), (b, _) = train(z), train(z2)
    assert not np.allclose(a[0], b[0])  # training: sample 0 depends on its batch
    ea, eb = g.apply(v, z, train=False), g.apply(v, z2, train=False)
    np.testing.assert_allclose(ea[0], eb[0], rtol=1e-6)  # evaluation: it does not
    # The running mean moved from 0 towards the batch mean of the first layer's activations.
    h = z @ v["params"]["hidden0"]["kernel"] + v["params"]["hidden0"]["bias"]
    mean = stats["batch_stats"]["hidden0_bn"]["mean"]
    np.testing.assert_allclose(mean, 0.01 * jnp.mean(h, 0), rtol=1e-4, atol=1e-7)


def test_bounded_codes_lie_in_the_uniform_prior_support():
    bounded = models.build(_paper_cfg(), SPEC)["encoder"]
    free = bounded.clone(bounded=False)
    x = 1e3 * jax.random.uniform(jax.random.key(0), (4, 28, 28, 1))  # big logits
    v = bounded.init(jax.random.key(1), x)
    code = bounded.apply(v, x)
    assert np.all(np.abs(code) <= 1.0)
    np.testing.assert_allclose(code, 2 * jax.nn.sigmoid(free.apply(v, x)) - 1, atol=1e-6)


def test_paper_discriminator_takes_z_linearly_into_its_second_layer_and_starts_at_zero():
    d = models.build(_paper_cfg(), SPEC)["discriminator"]
    x, z = jnp.full((4, 28, 28, 1), 0.5), jnp.ones((4, 5))
    v = d.init(jax.random.key(0), x, z)
    assert set(v["params"]) == {"x_hidden0", "joint_hidden0", "logit"}
    assert v["params"]["joint_hidden0"]["kernel"].shape == (16 + 5, 16)
    assert set(v["batch_stats"]) == {"joint_hidden0_bn"}  # the first layer has none
    np.testing.assert_allclose(np.std(v["params"]["x_hidden0"]["kernel"]), 0.02, rtol=0.1)
    logits, _ = d.apply(v, x, z, train=True, mutable=["batch_stats"])
    np.testing.assert_array_equal(logits, 0.0)  # zero logit layer: D = 1/2 at the start


def _step(zero_rows, seed=0):
    """One BiGAN step from the initial state with D's kernel rows `zero_rows` (of x_hidden0 or
    joint_hidden0) zeroed and D frozen, so that D cannot read what those rows carry."""
    objective = bigan.Bigan(
        ml_collections.ConfigDict(dict(model=_paper_cfg(), objective=dict())),
        models.build(_paper_cfg(), SPEC),
        SPEC,
    )
    opt = {"generator": optax.adam(1e-3), "encoder": optax.adam(1e-3)}
    opt["discriminator"] = optax.set_to_zero()
    state = state_lib.init_state(objective, opt, jax.random.key(seed))
    d = jax.tree.map(lambda a: a, state.params["discriminator"])
    layer, rows = zero_rows
    d[layer]["kernel"] = d[layer]["kernel"].at[rows].set(0.0)
    # A logit layer at zero would hide everything; give D a readout.
    d["logit"]["kernel"] = jnp.ones_like(d["logit"]["kernel"])
    state = state.replace(params={**state.params, "discriminator": d})
    x = jax.random.uniform(jax.random.key(7), (1, 8, 28, 28, 1))
    ctx = base.StepContext(opt)
    # One compiled step (as the trainer runs it): op by op it dispatches every primitive.
    update = jax.jit(lambda s, b, k: objective.update(s, ctx, b, k))
    new, metrics = update(state, {"image": x}, jax.random.key(3))
    return state, new, metrics


def test_encoder_learns_through_the_code_input_and_generator_through_the_image_input():
    _, _, no_z = _step(("joint_hidden0", slice(16, None)))  # D blind to z
    assert float(no_z["grad_norm/encoder"]) == 0.0
    assert float(no_z["grad_norm/generator"]) > 0.0
    _, _, no_x = _step(("x_hidden0", slice(None)))  # D blind to x
    assert float(no_x["grad_norm/generator"]) == 0.0
    assert float(no_x["grad_norm/encoder"]) > 0.0


def test_step_advances_every_network_batch_statistics():
    state, new, metrics = _step(("x_hidden0", slice(0, 0)))
    for name in ("generator", "encoder", "discriminator"):
        before, after = state.model_state[name], new.model_state[name]
        assert jax.tree.structure(before) == jax.tree.structure(after)
        assert not jax.tree.all(jax.tree.map(np.array_equal, before, after)), name
    assert math.isfinite(float(metrics["loss/generator_encoder"]))


@pytest.mark.parametrize("name", ["generator", "encoder"])
def test_evaluation_passes_need_no_mutable_state(name):
    objective_nets = models.build(_paper_cfg(), SPEC)
    objective = bigan.Bigan(
        ml_collections.ConfigDict(dict(model=_paper_cfg(), objective=dict())), objective_nets, SPEC
    )
    variables = objective.init(jax.random.key(0))
    x = jnp.full((3, 28, 28, 1), 0.5)
    out = (
        objective.reconstruct(variables, x)
        if name == "encoder"
        else objective.sample(variables, objective.sample_noise(jax.random.key(1), 3))
    )
    chex.assert_shape(out, (3, 28, 28, 1))
