"""FSDP-style state sharding (config.parallel.fsdp): the rule that picks each array's split,
and a VAE run on 8 fake devices as a (data=2, fsdp=4) mesh that matches the replicated (8, 1)
run."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import xla_flags  # tests/xla_flags.py
from jax.sharding import PartitionSpec as P

from gendl.parallel import mesh as mesh_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _spec(shape, fsdp):
    mesh = jax.sharding.AbstractMesh((1, fsdp), mesh_lib.BATCH_AXES)
    return mesh_lib.leaf_sharding(mesh, shape).spec


def test_each_array_is_split_along_its_largest_divisible_dimension():
    assert _spec((5, 5, 16, 32), 4) == P(None, None, None, "fsdp")
    assert _spec((128, 512), 4) == P(None, "fsdp")
    assert _spec((512, 6), 4) == P("fsdp", None)
    assert _spec((6, 10), 4) == P()  # nothing divides: replicated
    assert _spec((), 4) == P()  # step counter, Adam's count
    assert _spec((8, 8), 4) == P("fsdp", None)  # ties: the first
    assert _spec((128, 512), 1) == P()  # no fsdp axis: replicated


def test_sharded_state_trains_like_replicated(fake_data):
    script = (
        "import json, sys, jax\n"
        "from gendl.training import experiment\n"
        "sys.path.insert(0, 'configs'); import vae\n"
        "out = {}\n"
        "for fsdp in (1, 4):\n"
        "    c = vae.get_config('smoke'); c.batch_size = 16; c.parallel.fsdp = fsdp\n"
        f"    c.data.manual_dir = {fake_data['manual_dir']!r}\n"
        f"    c.data.data_dir = {fake_data['data_dir']!r}\n"
        "    exp = experiment.build(c)\n"
        "    state = exp.init_state(); rows = []\n"
        "    for step in range(3):\n"
        "        state, m = exp.train_step(state, exp.batch(step))\n"
        "        rows.append(dict(zip(exp.metric_names, map(float, m))))\n"
        "    kernel = state.params['vae']['encoder']['hidden0']['kernel']\n"
        "    sharded = [str(x.sharding.spec) for x in jax.tree.leaves(state)\n"
        "               if 'fsdp' in str(x.sharding.spec)]\n"
        "    out[fsdp] = {'metrics': rows, 'mesh': dict(exp.mesh.shape), 'sharded': sharded,\n"
        "                 'fc_shard': list(kernel.addressable_shards[0].data.shape),\n"
        "                 'fc': list(kernel.shape)}\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, XLA_FLAGS=xla_flags.with_devices(8))
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    rep, fsdp = out["1"], out["4"]
    assert rep["mesh"] == {"data": 8, "fsdp": 1} and fsdp["mesh"] == {"data": 2, "fsdp": 4}
    assert rep["sharded"] == [] and len(fsdp["sharded"]) > 10  # params and both Adam moments
    # The encoder's 784 x 400 kernel: split along its larger dimension.
    assert rep["fc"] == [784, 400] and rep["fc_shard"] == rep["fc"]
    assert fsdp["fc_shard"] == [784 // 4, 400]
    # Sharded parameters change the order of the matmul reductions: float32 rounding only. A
    # wrong layout would differ at the first step by far more.
    for step, (a, b) in enumerate(zip(rep["metrics"], fsdp["metrics"], strict=True)):
        for k in a:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-3, atol=1e-4, err_msg=f"{k} {step}")
