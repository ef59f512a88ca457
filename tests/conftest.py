"""Shared fixtures: small IDX datasets written by the tests, and isolated TFDS data dirs so
no test touches ~/tensorflow_datasets or the network."""

import os
import sys
import tempfile

import pytest

# One persistent XLA compilation cache for the whole session, in the environment so that the
# end-to-end subprocesses and the pytest-xdist workers (both inherit it: this runs in the
# controlling process before the workers start) share it: many tests compile the same
# smoke-config programs (the resume, preemption and error-path runs of one config, the same
# programs in both workers), and on a 2-core CPU compiling is most of a smoke run's time.
# Every program is cached, however quick to compile: a subprocess pays every small program's
# compilation again otherwise, and writing an entry costs far less than compiling it.
# A fresh directory per session, so nothing carries between runs.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="gendl-tests-xla-cache-")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import idx_fixtures  # noqa: E402
import image_fixtures  # noqa: E402
import melody_fixtures  # noqa: E402

# Test modules whose tests are independent runs with nothing to share in-process (one
# config's smoke run each): pytest-xdist hands their tests out one by one, last, to even out
# the workers' ends. Every other module goes to one worker whole, so that its module-scoped
# fixtures (one end-to-end run serving several tests) run once and its tests share compiled
# programs in memory as in a serial run.
_SPLIT_MODULES = {"test_configs.py"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    # Collection runs in the workers, where xdist sets `loadgroup` (and `dist` to "no").
    if not getattr(config.option, "loadgroup", False):
        return
    split = set()
    for item in items:
        module = item.nodeid.split("::")[0]
        if os.path.basename(module) in _SPLIT_MODULES:
            split.add(item)
        else:
            item.add_marker(pytest.mark.xdist_group(module))
    # Whole modules first, in collection order, then the single tests as fillers (the
    # scheduler hands out work in this order).
    items[:] = [i for i in items if i not in split] + [i for i in items if i in split]


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
    for key in ("GENDL_COORDINATOR_ADDRESS", "GENDL_DISTRIBUTED", "XLA_FLAGS"):
        e.pop(key, None)
    return e


@pytest.fixture
def real_manual_dir():
    path = os.environ.get("GENDL_MANUAL_DIR")
    if not path:
        pytest.skip("GENDL_MANUAL_DIR is not set: the real MNIST files are not available.")
    return os.path.abspath(path)
