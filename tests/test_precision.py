"""Mixed precision (config.model.dtype): the step runs in bfloat16 and float16, losses stay
close to float32, parameters and optimiser states stay float32; float16 loss scaling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_configs import load

from gendl.objectives import base
from gendl.training import experiment


def _losses_and_state(name, dtype, fake_data, steps=3, **model):
    c = load(name)
    c.batch_size = 8
    c.data.manual_dir = fake_data["manual_dir"]
    c.data.data_dir = fake_data["data_dir"]
    c.model.dtype = dtype
    for k, v in model.items():
        c.model[k] = v
    if name == "wgan_gp":
        c.objective.n_critic = 1
    exp = experiment.build(c)
    state, out = exp.init_state(), []
    for step in range(steps):
        state, m = exp.train_step(state, exp.batch(step))
        out.append(dict(zip(exp.metric_names, np.asarray(m).tolist(), strict=True)))
    return out, state


@pytest.mark.parametrize(
    "name,loss,dtypes",
    # WGAN-GP in float16 runs the loss-scaled path through convolutions and the gradient
    # penalty; bfloat16 takes the same code path (one compile each keeps this test short).
    [("wgan_gp", "loss/critic", ("float16",)), ("vae", "loss/vae", ("bfloat16", "float16"))],
)
def test_low_precision_losses_stay_close_to_float32(name, loss, dtypes, fake_data):
    model = {"dim": 8} if name == "wgan_gp" else {}
    ref, _ = _losses_and_state(name, "float32", fake_data, **model)
    for dtype in dtypes:
        got, state = _losses_and_state(name, dtype, fake_data, **model)
        for step, (a, b) in enumerate(zip(ref, got, strict=True)):
            assert np.isfinite(b[loss]), (dtype, step, b)
            # bfloat16 keeps 8 bits of mantissa: a relative error of a few 1e-3 per op.
            np.testing.assert_allclose(b[loss], a[loss], rtol=3e-2, err_msg=f"{dtype} {step}")
        dtypes = {leaf.dtype for leaf in jax.tree.leaves((state.params, state.opt_state))}
        assert dtypes <= {jnp.dtype("float32"), jnp.dtype("int32")}, dtypes


def test_low_precision_computes_in_the_chosen_dtype(fake_data):
    c = load("vae")
    c.model.dtype = "bfloat16"
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    exp = experiment.build(c)
    variables = jax.eval_shape(exp.init_state).variables()
    net = exp.objective.networks["vae"]
    x = jnp.zeros((2, 28, 28, 1))
    jaxpr = jax.make_jaxpr(lambda v: net.apply(v["vae"], x, method="encode"))(variables)
    dots = [e for e in jaxpr.eqns if e.primitive.name == "dot_general"]
    assert dots and all(e.outvars[0].aval.dtype == jnp.bfloat16 for e in dots)
    # ... while what the loss sees is float32.
    assert all(v.dtype == jnp.float32 for v in jaxpr.out_avals)


def test_float16_loss_scaling_keeps_small_gradients():
    # d/dw of (1e-4 w)^2 at w=1 is 2e-8: below float16's smallest subnormal (6e-8).
    def loss(w):
        return jnp.sum((w.astype(jnp.float16) * jnp.float16(1e-4)) ** 2).astype(jnp.float32)

    w = jnp.ones((3,), jnp.float32)
    with base.loss_scaling(1.0):
        _, g_plain = base.value_and_grad(loss)(w)
    with base.loss_scaling(2.0**14):
        value, g_scaled = base.value_and_grad(loss)(w)
    assert np.all(np.asarray(g_plain) == 0)  # flushed to zero without scaling
    np.testing.assert_allclose(g_scaled, 2e-8, rtol=2e-2)
    assert g_scaled.dtype == jnp.float32
    np.testing.assert_allclose(value, loss(w))  # the value comes back unscaled
