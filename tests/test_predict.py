"""Predict functions: what each model family provides, and the one message when a config's
evaluator needs one its objective lacks. Also the entry points' one error handler."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_configs import load

from gendl import cli
from gendl.config import ConfigError
from gendl.evaluation import predict
from gendl.training import experiment, loop

NAMES = {
    "sample",
    "sample_noise",
    "encode",
    "reconstruct",
    "log_weights",
    "elbo",
    "classify",
    "translate",
    "features",
    "latents",
    "traversal_noise",
    "categorical_code",
    "cluster",
}


def _exp(name, fake_data, arg="smoke"):
    c = load(name, arg)
    c.batch_size = 8
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    return experiment.build(c)


# What the evaluators of each family use.
FAMILY = {
    "wgan_gp": {"sample", "sample_noise"},
    "dcgan": {"sample", "sample_noise", "latents"},
    "vae": {"sample", "sample_noise", "encode", "reconstruct", "log_weights", "elbo"},
    "ae": {"sample", "sample_noise", "encode", "reconstruct"},
    "aae": {"sample", "sample_noise", "encode", "reconstruct"},
    "bigan": {"sample", "sample_noise", "encode", "reconstruct"},
    "sgan": {"sample", "sample_noise", "classify", "features"},
    "infogan": {"sample", "sample_noise", "traversal_noise", "categorical_code", "cluster"},
    "classifier": {"classify", "features"},
}


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_each_family_provides_its_predict_functions(name, fake_data):
    exp = _exp(name, fake_data)
    functions = exp.objective.predictors()
    assert set(functions) == FAMILY[name]
    assert set(functions) <= NAMES and all(callable(f) for f in functions.values())


def test_predict_functions_compute_what_the_objective_methods_do(fake_data):
    exp = _exp("cvae", fake_data)
    p = predict.of(exp)
    assert p.num_classes == 10 and p.objective == "vae"
    variables = exp.init_state().variables()
    x = jnp.asarray(np.random.default_rng(0).random((4, 28, 28, 1), np.float32))
    y = jnp.arange(4)
    code = p.functions["encode"](variables, x, y)
    np.testing.assert_array_equal(code, exp.objective.encode(variables, x, y)[0])
    np.testing.assert_array_equal(
        p.functions["reconstruct"](variables, x, y),
        exp.objective.decode_mean(variables, code, y),
    )
    noise = p.functions["sample_noise"](jax.random.key(0), 4)
    assert p.functions["sample"](variables, noise, y).shape == (4, 28, 28, 1)


def test_unconditional_families_say_so(fake_data):
    assert predict.of(_exp("wgan_gp", fake_data)).num_classes is None


def test_an_evaluator_whose_predict_function_is_missing_fails_before_training(fake_data, tmp_path):
    c = load("wgan_gp")
    c.total_steps, c.batch_size, c.model.dim = 1, 8, 8
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    c.evals.accuracy = dict(type="classification", every_steps=0)
    with pytest.raises(ConfigError) as e:
        loop.train(c, str(tmp_path / "run"))
    message = str(e.value)
    assert "Classification evaluator (config.evals.accuracy)" in message
    assert "'classify'" in message and "'wgan_gp' objective" in message
    assert "\n" not in message
    assert not (tmp_path / "run" / "checkpoints").exists()


def _raises(error):
    def main(argv):
        del argv
        raise error

    return main


def test_cli_turns_user_errors_into_one_line_and_an_exit_code(capsys):
    assert cli.call(_raises(ConfigError("set x to 3.")), [], "gendl.test") == 1
    assert capsys.readouterr().err == "gendl.test: error: set x to 3.\n"
    assert cli.call(_raises(loop.Preempted("Stopped by SIGTERM.")), [], "gendl") == 143
    assert capsys.readouterr().err == "gendl: Stopped by SIGTERM.\n"
    assert cli.call(lambda argv: None, []) == 0
    with pytest.raises(RuntimeError):  # a bug keeps its traceback
        cli.call(_raises(RuntimeError("bug")), [])
