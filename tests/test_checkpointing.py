"""Tests for gendl.checkpointing (orbax-backed save/restore of the trainer state)."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import struct
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gendl import checkpointing
from gendl.checkpointing import CHECKSUMS_FILENAME, Checkpointer, CheckpointError


@struct.dataclass
class TrainState:
    step: jax.Array
    params: dict
    opt_state: dict


class MLP(nn.Module):
    hidden: int = 8

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(3)(x)


MESH = Mesh(np.array(jax.devices()[:1]), ("data",))
REPLICATED = NamedSharding(MESH, P())


@functools.partial(jax.jit, static_argnames="hidden")
def _init_params_and_adam_state(key, hidden):
    """MLP params plus adam state after one update (count=1, mu/nu != 0), in one compiled call:
    op-by-op dispatch of the same would dominate the test runtime."""
    init_key, data_key = jax.random.split(key)
    model = MLP(hidden)
    x = jax.random.normal(data_key, (5, 4))
    params = model.init(init_key, x)["params"]
    tx = optax.adam(1e-2)
    opt_state = tx.init(params)

    def loss(p):
        return jnp.mean(model.apply({"params": p}, x) ** 2)

    updates, opt_state = tx.update(jax.grad(loss)(params), opt_state, params)
    return optax.apply_updates(params, updates), opt_state


@functools.cache
def make_state(step: int, *, hidden: int = 8, seed: int = 0) -> TrainState:
    """A real TrainState; cached, so callers must not donate it."""
    params, opt_state = _init_params_and_adam_state(jax.random.key(seed), hidden)
    state = TrainState(
        step=jnp.asarray(step, jnp.int32), params={"mlp": params}, opt_state={"mlp": opt_state}
    )
    return jax.device_put(state, REPLICATED)


def abstract(state: TrainState, sharding=REPLICATED):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), state)


def assert_bitwise_equal(actual, expected):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert a.dtype == e.dtype
        assert a.shape == e.shape
        assert np.asarray(a).tobytes() == np.asarray(e).tobytes()


def meta_for(step: int) -> dict:
    return {"next_batch": step * 3, "seed": 0, "num_examples": 60000, "global_batch_size": 50}


@pytest.fixture
def ckpt_dir(tmp_path: Path) -> Path:
    return tmp_path / "workdir" / "checkpoints"


def save_steps(ckpt_dir: Path, steps, *, every: int = 1, keep: int = 5, hidden: int = 8):
    with Checkpointer(ckpt_dir, save_every_steps=every, keep=keep) as ckpt:
        for s in steps:
            assert ckpt.save(s, make_state(s, hidden=hidden, seed=s), meta_for(s))


def data_files(step_dir: Path) -> list[Path]:
    """The array data files of a finalized step (OCDBT merges every process's writes into
    state/d/ on finalize; the files under state/ocdbt.process_*/ are not read any more)."""
    files = sorted((step_dir / "state" / "d").iterdir())
    assert files
    return files


def truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def flip_bytes(path: Path, count: int = 3) -> None:
    """Inverts `count` bytes in the middle of a file: same size, still parseable by orbax."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + count, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "truncate array data": lambda d: [truncate(p) for p in data_files(d)],
    "delete array data": lambda d: [p.unlink() for p in data_files(d)],
    "truncate OCDBT manifest": lambda d: truncate(d / "state" / "manifest.ocdbt"),
    "delete tree metadata": lambda d: (d / "state" / "_METADATA").unlink(),
    "delete meta json": lambda d: (d / "meta" / "metadata").unlink(),
    "empty step dir": lambda d: [shutil.rmtree(d), d.mkdir()],
    "truncate every file": lambda d: [truncate(p) for p in d.rglob("*") if p.is_file()],
    # Silently restored before checkpoints carried checksums (issue 18).
    "flip bytes in array data": lambda d: flip_bytes(max(data_files(d), key=os.path.getsize)),
}


def test_roundtrip_is_bitwise_and_keeps_sharding(ckpt_dir):
    state = make_state(7)
    with Checkpointer(ckpt_dir, save_every_steps=7, keep=3) as ckpt:
        assert ckpt.save(7, state, meta_for(7))
    with Checkpointer(ckpt_dir, save_every_steps=7, keep=3) as ckpt:
        assert ckpt.latest_step() == 7
        restored, meta, step = ckpt.restore(abstract(state))
    assert step == 7
    assert meta == meta_for(7)
    assert isinstance(restored, TrainState)
    assert_bitwise_equal(restored, state)
    assert restored.step.dtype == jnp.int32
    assert int(restored.opt_state["mlp"][0].count) == 1
    for leaf in jax.tree.leaves(restored):
        assert leaf.sharding == REPLICATED


def test_restore_applies_requested_named_sharding(ckpt_dir):
    state = make_state(1, seed=1)
    save_steps(ckpt_dir, [1])
    # A different spec than the one used at save time: orbax must lay the arrays out as asked.
    target = NamedSharding(MESH, P("data"))
    ab = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=target if a.ndim else REPLICATED),
        state,
    )
    with Checkpointer(ckpt_dir, save_every_steps=1, keep=3) as ckpt:
        restored, _, _ = ckpt.restore(ab)
    assert_bitwise_equal(restored, state)
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(ab), strict=True):
        assert isinstance(got.sharding, NamedSharding)
        assert got.sharding == want.sharding


def test_no_checkpoint_restores_none(ckpt_dir):
    with Checkpointer(ckpt_dir, save_every_steps=10, keep=3) as ckpt:
        assert ckpt.latest_step() is None
        assert ckpt.all_steps() == []
        assert ckpt.restore(abstract(make_state(0))) is None
    assert ckpt_dir.is_dir()


def test_should_save_interval_and_keep_n_pruning(ckpt_dir):
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=2) as ckpt:
        # No orbax "initial save" at the first step of a fresh run.
        assert not ckpt.should_save(1)
        assert ckpt.should_save(2)
        state = make_state(0)
        saved = [s for s in range(1, 9) if ckpt.save(s, state, meta_for(s))]
        assert saved == [2, 4, 6, 8]
        ckpt.wait()
        assert ckpt.all_steps() == [6, 8]
        assert ckpt.latest_step() == 8
        assert not ckpt.should_save(8)
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["6", "8"]


def test_force_save_on_existing_step_is_noop(ckpt_dir):
    with Checkpointer(ckpt_dir, save_every_steps=4, keep=5) as ckpt:
        assert ckpt.save(4, make_state(4, seed=4), meta_for(4))
        assert not ckpt.save(4, make_state(4, seed=99), meta_for(99), force=True)
        # force saves off the interval (preemption) ...
        assert ckpt.save(5, make_state(5, seed=5), meta_for(5), force=True)
        ckpt.wait()
        # ... and a second force save of that step (e.g. SIGTERM handler, then end of loop).
        assert not ckpt.save(5, make_state(5, seed=98), meta_for(98), force=True)
        assert ckpt.all_steps() == [4, 5]
        restored, meta, _ = ckpt.restore(abstract(make_state(0)), step=4)
    assert_bitwise_equal(restored, make_state(4, seed=4))
    assert meta == meta_for(4)


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_latest_falls_back_to_previous(ckpt_dir, caplog, corruption):
    save_steps(ckpt_dir, [2, 4])
    CORRUPTIONS[corruption](ckpt_dir / "4")
    caplog.set_level(logging.WARNING)
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        restored, meta, step = ckpt.restore(abstract(make_state(0)))
    assert step == 2
    assert meta == meta_for(2)
    assert_bitwise_equal(restored, make_state(2, seed=2))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("step 4" in w and "falling back" in w and "step 2" in w for w in warnings), warnings
    # The unreadable checkpoint is left in place.
    assert (ckpt_dir / "4").is_dir()


def test_saves_and_pruning_keep_working_after_fallback(ckpt_dir, caplog):
    save_steps(ckpt_dir, [2, 4], every=2, keep=3)
    CORRUPTIONS["truncate array data"](ckpt_dir / "4")
    caplog.set_level(logging.WARNING)
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=3) as ckpt:
        _, _, step = ckpt.restore(abstract(make_state(0)))
        assert step == 2
        assert ckpt.latest_step() == 4  # still on disk, but known to be unreadable
        # A preemption save between the good and the unreadable step works ...
        assert ckpt.save(3, make_state(3, seed=3), meta_for(3), force=True)
        # ... and reaching the unreadable step on schedule replaces it.
        assert ckpt.should_save(4)
        assert ckpt.save(4, make_state(4, seed=44), meta_for(44))
        assert any(
            "Replacing the unreadable checkpoint at step 4" in r.getMessage()
            for r in caplog.records
        )
        assert ckpt.save(6, make_state(6, seed=6), meta_for(6))
        ckpt.wait()
        assert ckpt.all_steps() == [3, 4, 6]
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=3) as ckpt:
        restored, meta, step = ckpt.restore(abstract(make_state(0)), step=4)
    assert_bitwise_equal(restored, make_state(4, seed=44))
    assert meta == meta_for(44)


def test_all_checkpoints_corrupt_raises(ckpt_dir):
    save_steps(ckpt_dir, [2, 4])
    CORRUPTIONS["truncate array data"](ckpt_dir / "2")
    CORRUPTIONS["delete tree metadata"](ckpt_dir / "4")
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        with pytest.raises(CheckpointError) as err:
            ckpt.restore(abstract(make_state(0)))
    msg = str(err.value)
    assert "step 4:" in msg and "step 2:" in msg
    assert "move that directory away" in msg
    assert "\n" not in msg
    # Nothing was deleted.
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["2", "4"]


@pytest.mark.parametrize(
    "change",
    ["wider hidden layer", "extra parameter", "dtype"],
)
def test_structure_mismatch_raises_with_new_workdir_advice(ckpt_dir, caplog, change):
    save_steps(ckpt_dir, [2, 4])
    caplog.set_level(logging.WARNING)
    if change == "wider hidden layer":
        other = make_state(0, hidden=16)
        expected_detail = "params/mlp/Dense_0/kernel has shape (4, 8) float32 in the checkpoint"
    elif change == "extra parameter":
        base = make_state(0)
        other = base.replace(params={**base.params, "head": {"w": jnp.zeros((3,), jnp.float32)}})
        other = jax.device_put(other, REPLICATED)
        expected_detail = "params/head/w is not in the checkpoint"
    else:
        other = make_state(0)
        other = other.replace(step=other.step.astype(jnp.float32))
        expected_detail = "step has shape () int32 in the checkpoint but () float32"
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        with pytest.raises(CheckpointError) as err:
            ckpt.restore(abstract(other))
    msg = str(err.value)
    assert "different model or config" in msg
    assert "use a new --workdir" in msg
    assert expected_detail in msg
    assert "could be read" not in msg  # not reported as corruption
    # The error alone explains it; no per-step "falling back" warnings before it.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "step 4" in w], warnings


def test_mismatching_latest_is_skipped_when_an_older_one_matches(ckpt_dir, caplog):
    save_steps(ckpt_dir, [2])
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        assert ckpt.save(4, make_state(4, hidden=16), meta_for(4))
    caplog.set_level(logging.WARNING)
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        restored, _, step = ckpt.restore(abstract(make_state(0)))
    assert step == 2
    assert_bitwise_equal(restored, make_state(2, seed=2))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("step 4" in w and "does not match the model" in w for w in warnings), warnings


def test_explicit_step(ckpt_dir):
    save_steps(ckpt_dir, [2, 4])
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        restored, meta, step = ckpt.restore(abstract(make_state(0)), step=2)
        assert step == 2 and meta == meta_for(2)
        assert_bitwise_equal(restored, make_state(2, seed=2))
        with pytest.raises(CheckpointError, match="no checkpoint for step 3"):
            ckpt.restore(abstract(make_state(0)), step=3)
    CORRUPTIONS["truncate array data"](ckpt_dir / "4")
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        # An explicitly requested step does not fall back.
        with pytest.raises(CheckpointError, match="step 4:"):
            ckpt.restore(abstract(make_state(0)), step=4)


def test_leftover_tmp_dir_from_killed_save_is_harmless(ckpt_dir):
    save_steps(ckpt_dir, [2])
    # What a process killed mid-save leaves behind: a non-finalized tmp directory.
    for step in (4, 6):
        tmp = ckpt_dir / f"{step}.orbax-checkpoint-tmp"
        (tmp / "state").mkdir(parents=True)
        (tmp / "state" / "junk").write_bytes(b"partial")
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        assert ckpt.all_steps() == [2]
        _, _, step = ckpt.restore(abstract(make_state(0)))
        assert step == 2
        assert ckpt.save(4, make_state(4, seed=4), meta_for(4))
        ckpt.wait()
        restored, _, step = ckpt.restore(abstract(make_state(0)))
    assert step == 4
    assert_bitwise_equal(restored, make_state(4, seed=4))
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["2", "4"]


def test_async_save_survives_donation_of_the_saved_buffers(ckpt_dir):
    state = jax.tree.map(jnp.copy, make_state(3, seed=3))  # not the cached one: it is donated
    expected = jax.tree.map(lambda a: np.array(a, copy=True), state)
    train_step = jax.jit(lambda s: jax.tree.map(lambda a: a * 0 + 1, s), donate_argnums=0)
    with Checkpointer(ckpt_dir, save_every_steps=3, keep=2, async_save=True) as ckpt:
        assert ckpt.save(3, state, meta_for(3))
        new_state = train_step(state)  # donates (or, on CPU, declines) the saved buffers
        jax.block_until_ready(new_state)
        ckpt.wait()
        restored, _, _ = ckpt.restore(abstract(new_state))
    assert_bitwise_equal(restored, expected)


def test_sync_save(ckpt_dir):
    with Checkpointer(ckpt_dir, save_every_steps=1, keep=1, async_save=False) as ckpt:
        assert ckpt.save(1, make_state(1), meta_for(1))
        assert (ckpt_dir / "1" / "state" / "_METADATA").is_file()  # written before returning
        assert ckpt.save(2, make_state(2, seed=2), meta_for(2))
        assert ckpt.all_steps() == [2]


def test_abstract_state_needs_shardings(ckpt_dir):
    save_steps(ckpt_dir, [1])
    no_sharding = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), make_state(0))
    with Checkpointer(ckpt_dir, save_every_steps=1, keep=1) as ckpt:
        with pytest.raises(ValueError, match="has no sharding"):
            ckpt.restore(no_sharding)


def test_every_file_of_a_checkpoint_is_checksummed_and_verified(ckpt_dir, caplog):
    save_steps(ckpt_dir, [2, 4])
    for step in (2, 4):
        record = json.loads((ckpt_dir / str(step) / CHECKSUMS_FILENAME).read_text())
        on_disk = {
            str(p.relative_to(ckpt_dir / str(step)))
            for p in (ckpt_dir / str(step)).rglob("*")
            if p.is_file() and p.name != CHECKSUMS_FILENAME
        }
        assert set(record["files"]) == on_disk
    flip_bytes(max(data_files(ckpt_dir / "4"), key=os.path.getsize), count=1)
    caplog.set_level(logging.WARNING)
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        assert "SHA-256" in ckpt.verify(4) and ckpt.verify(2) is None
        _, _, step = ckpt.restore(abstract(make_state(0)))
    assert step == 2
    warning = next(r.getMessage() for r in caplog.records if "falling back" in r.getMessage())
    assert "state/d/" in warning and "no longer matches the SHA-256" in warning
    assert "<bound method" not in warning and "\n" not in warning


def test_full_disk_during_an_async_save_stops_with_the_last_complete_checkpoint(
    ckpt_dir, monkeypatch
):
    """orbax reports ENOSPC as ValueError RESOURCE_EXHAUSTED from its background thread."""
    from orbax.checkpoint._src.serialization import serialization

    async def disk_full(*args, **kwargs):
        raise ValueError(
            'RESOURCE_EXHAUSTED: Error writing "params.fc.kernel/0.0" in OCDBT database at '
            f"local file {'x' * 300}: Failed to write 477151 bytes to file 7: No space left on "
            "device [os_error_code='28']"
        )

    ckpt = Checkpointer(ckpt_dir, save_every_steps=2, keep=5)
    assert ckpt.save(2, make_state(2, seed=2), meta_for(2))
    ckpt.wait()
    monkeypatch.setattr(serialization, "async_serialize_from_host", disk_full)
    with pytest.raises(CheckpointError) as err:
        ckpt.save(4, make_state(4, seed=4), meta_for(4))
        ckpt.wait()
    msg = str(err.value)
    assert "\n" not in msg
    assert "No space left on device" in msg and "latest complete checkpoint is step 2" in msg
    monkeypatch.undo()
    ckpt.close()
    # Nothing half-written is left, and the previous checkpoint restores.
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["2"]
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        restored, _, step = ckpt.restore(abstract(make_state(0)))
    assert step == 2
    assert_bitwise_equal(restored, make_state(2, seed=2))


def test_a_step_without_checksums_restores_unverified(ckpt_dir):
    """A checkpoint written before checksums (or killed between finalize and the record)."""
    save_steps(ckpt_dir, [2])
    (ckpt_dir / "2" / CHECKSUMS_FILENAME).unlink()
    assert checkpointing.verify_checksums(ckpt_dir / "2") is None
    with Checkpointer(ckpt_dir, save_every_steps=2, keep=5) as ckpt:
        _, _, step = ckpt.restore(abstract(make_state(0)))
    assert step == 2
