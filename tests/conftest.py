"""Shared fixtures: small IDX datasets written by the tests, and isolated TFDS data dirs so
no test touches ~/tensorflow_datasets or the network."""

import os
import sys
import tempfile

import pytest

# One persistent XLA compilation cache for the whole session, in the environment so that the
# end-to-end subprocesses share it: many tests compile the same smoke-config programs (the
# resume, preemption and error-path runs of one config), and on a 2-core CPU compiling is
# most of a smoke run's time. A fresh directory per session, so nothing carries between runs.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # pytest-xdist's workers inherit it
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="gendl-tests-xla-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
# XLA:CPU's backend optimisation (LLVM -O3 and its expensive passes) is about half of each
# compile, and compiling is most of the suite's time, while the tests check behaviour that
# optimisation does not change (shapes, a run equal to its own resume, losses that fall,
# one device equal to eight within tolerance, the first steps' metrics up to float rounding).
# So the suite, and the subprocesses it starts, compile without it. Set
# JAX_DISABLE_MOST_OPTIMIZATIONS=0 to run the whole suite as users' runs compile.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xla_flags  # noqa: E402

# And with XLA:CPU's faster-compiling emitters (tests/xla_flags.py; GENDL_TEST_XLA_FLAGS= to
# compile with XLA's default ones), kept beside the user's own XLA_FLAGS (a device count, say)
# for the tests that run in this process. xdist's workers inherit the controller's flags.
if xla_flags.suite_flags() not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = " ".join(
        filter(None, [os.environ.get("XLA_FLAGS"), xla_flags.suite_flags()])
    )

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import idx_fixtures  # noqa: E402
import image_fixtures  # noqa: E402
import melody_fixtures  # noqa: E402

# The longest test files, longest first (their test durations summed, 2026-12-04): xdist hands
# files out in collection order (setup.cfg: --no-loadscope-reorder), so these go out first and
# the last file a worker takes is a short one; the rest keep pytest's order. A file missing here
# only runs later, never wrongly.
LONGEST_FIRST = (
    "test_configs.py",
    "test_train.py",
    "test_unpaired.py",
    "test_stylegan2.py",
    "test_multiprocess.py",
    "test_srgan.py",
    "test_music_vae.py",
    "test_sample_quality_eval.py",
    "test_progan.py",
    "test_training_core.py",
    "test_pix2pix.py",
    "test_steps_per_call.py",
    "test_objectives.py",
    "test_hierarchical_vae.py",
    "test_gan.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory):
    """A tiny MNIST-format dataset, tiny emoji pairs, a few ABC tunes and a TFDS data dir
    holding nothing prepared yet."""
    root = tmp_path_factory.mktemp("manual")
    idx_fixtures.write_idx_dataset(str(root), name="mnist", n_train=256, n_test=64, seed=0)
    image_fixtures.write_paired_emoji(str(root))  # pix2pix's emoji pairs
    melody_fixtures.write_melodies(str(root))  # MusicVAE's tunes
    return {"manual_dir": str(root), "data_dir": str(tmp_path_factory.mktemp("tfds"))}


@pytest.fixture(scope="session")
def subprocess_env(fake_data):
    """The environment of a `python -m gendl...` subprocess on the fake dataset: this checkout
    on the path (also for runs started from another directory), CPU only, one device and one
    process unless a test says otherwise; the session's compilation cache is inherited."""
    e = dict(os.environ)
    e.update(
        GENDL_MANUAL_DIR=fake_data["manual_dir"],
        TFDS_DATA_DIR=fake_data["data_dir"],
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
    )
    for key in ("GENDL_COORDINATOR_ADDRESS", "GENDL_DISTRIBUTED"):
        e.pop(key, None)
    e["XLA_FLAGS"] = xla_flags.with_devices()  # no device count of the user's
    return e


@pytest.fixture
def real_manual_dir():
    path = os.environ.get("GENDL_MANUAL_DIR")
    if not path:
        pytest.skip("GENDL_MANUAL_DIR is not set: the real MNIST files are not available.")
    return os.path.abspath(path)
