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
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="gendl-tests-xla-cache-")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import idx_fixtures  # noqa: E402


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory):
    """A tiny MNIST-format dataset and a TFDS data dir holding nothing prepared yet."""
    root = tmp_path_factory.mktemp("manual")
    idx_fixtures.write_idx_dataset(str(root), name="mnist", n_train=256, n_test=64, seed=0)
    return {"manual_dir": str(root), "data_dir": str(tmp_path_factory.mktemp("tfds"))}


@pytest.fixture
def real_manual_dir():
    path = os.environ.get("GENDL_MANUAL_DIR")
    if not path:
        pytest.skip("GENDL_MANUAL_DIR is not set: the real MNIST files are not available.")
    return os.path.abspath(path)
