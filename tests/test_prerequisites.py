"""Building what an evaluator needs once per dataset: cached, locked, never half-built."""

import json
import os
import threading
import time

import ml_collections
import pytest

from gendl.data.source import DataError
from gendl.evaluation import prerequisites


def _need(tmp_path):
    config = ml_collections.ConfigDict({"total_steps": 3})
    return prerequisites.Prerequisite(
        "the toy feature classifier", str(tmp_path / "classifier"), config, "python -m x"
    )


def _fake_train(calls, delay=0.0):
    """Writes what gendl.main leaves in a workdir (config.json, checkpoints/)."""

    def train(config, workdir):
        calls.append(workdir)
        os.makedirs(os.path.join(workdir, "checkpoints"), exist_ok=True)
        time.sleep(delay)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            json.dump(config.to_dict(), f)

    return train


def test_builds_in_a_partial_dir_then_renames_it_into_place(tmp_path):
    need, calls = _need(tmp_path), []
    prerequisites.ensure(need, _fake_train(calls))
    assert calls == [need.workdir + ".partial"]
    assert need.ready() and not os.path.exists(need.workdir + ".partial")
    prerequisites.ensure(need, _fake_train(calls))  # cached: not built again
    assert len(calls) == 1


def test_two_builders_at_once_build_it_once(tmp_path):
    need, calls = _need(tmp_path), []
    train = _fake_train(calls, delay=0.3)
    threads = [threading.Thread(target=prerequisites.ensure, args=(need, train)) for _ in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and need.ready()


def test_a_failed_build_leaves_no_cache_and_says_how_to_build_it(tmp_path):
    need = _need(tmp_path)

    def train(config, workdir):
        os.makedirs(os.path.join(workdir, "checkpoints"))
        raise DataError("No MNIST files found.")

    with pytest.raises(prerequisites.Unavailable, match="build it by hand with `python -m x`"):
        prerequisites.ensure(need, train)
    assert not os.path.exists(need.workdir) and not need.ready()
    # The partial build stays where the next attempt resumes it, and then finishes.
    assert os.path.isdir(need.workdir + ".partial")
    calls = []
    prerequisites.ensure(need, _fake_train(calls))
    assert need.ready() and calls == [need.workdir + ".partial"]


def test_an_unfinished_directory_in_the_way_is_not_overwritten(tmp_path):
    need = _need(tmp_path)
    os.makedirs(need.workdir)
    open(os.path.join(need.workdir, "notes.txt"), "w").close()
    with pytest.raises(prerequisites.Unavailable, match="move it away"):
        prerequisites.ensure(need, _fake_train([]))
    assert os.path.exists(os.path.join(need.workdir, "notes.txt"))
