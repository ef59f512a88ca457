"""Every config in configs/ runs a few steps through the one trainer, and documents itself."""

import glob
import importlib.util
import os

import pytest

from gendl.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "configs", "*.py")))


def module(name):
    path = os.path.join(ROOT, "configs", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"test_configs_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load(name, arg="smoke"):
    return module(name).get_config(arg)


def test_there_are_configs():
    assert {"wgan_gp", "vae", "ae", "dae", "beta_vae", "cvae", "iwae", "vae_burda"} <= set(CONFIGS)
    assert {"gan", "dcgan", "cgan", "wgan", "lsgan", "sngan", "acgan"} <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_docstring_holds_the_command(name):
    assert f"python -m gendl.main --config=configs/{name}.py" in module(name).__doc__


# Variants that build different networks or objectives than their config's default.
EXTRA_VARIANTS = [("vae_burda", "two_layer,smoke"), ("iwae", "two_layer,smoke")]


@pytest.mark.parametrize(
    "name,arg", [(n, "smoke") for n in CONFIGS] + EXTRA_VARIANTS, ids=lambda v: str(v)
)
def test_config_trains_a_few_steps(name, arg, fake_data, tmp_path):
    c = load(name, arg)
    c.total_steps = 3
    c.batch_size = 8
    c.log.every_steps = 1
    c.log.sample_every_steps = 3
    c.log.num_samples = 4
    c.data.manual_dir = fake_data["manual_dir"]
    c.data.data_dir = fake_data["data_dir"]
    if name == "wgan_gp":
        c.model.dim = 8
    result = loop.train(c, str(tmp_path / name))
    assert result["step"] == 3
    assert os.path.exists(tmp_path / name / "samples" / "samples_00000003.png")
    for eval_name, ev in c.evals.items():  # generator pictures at the end of training
        if ev.get("type") == "generator_pictures":
            for kind in ("samples", "interpolations"):
                assert os.path.exists(
                    tmp_path / name / "samples" / f"{eval_name}_{kind}_00000003.png"
                )
