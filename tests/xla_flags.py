"""XLA_FLAGS for the suite and the processes it starts: how the suite compiles, plus a number
of fake CPU devices where a test asks for them."""

import os
import subprocess
import sys

# XLA:CPU's MLIR fusion emitters (its default) spend ~40% more time compiling the smoke train
# steps than its older elemental emitters (2-core x86, jax 0.10.2, one cold compile each:
# wgan_gp 4.1 -> 2.5 s, conv_vae 2.4 -> 1.1 s, stylegan2 16.7 -> 11.1 s), and compiling is
# most of the suite's time; the tests check behaviour, which the emitter does not change.
FAST_COMPILE = "--xla_cpu_use_fusion_emitters=false"
_PROBED = "GENDL_TEST_XLA_FLAGS"  # the probe's answer, inherited by xdist workers


def suite_flags() -> str:
    """FAST_COMPILE where this XLA knows the flag (an unknown flag aborts XLA), else ""."""
    if _PROBED not in os.environ:
        probe = "import jax; jax.jit(lambda x: x + 1)(1)"
        env = dict(os.environ, XLA_FLAGS=FAST_COMPILE, JAX_PLATFORMS="cpu")
        ok = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
        os.environ[_PROBED] = FAST_COMPILE if ok.returncode == 0 else ""
    return os.environ[_PROBED]


def with_devices(devices: int | None = None) -> str:
    """The suite's flags, with `devices` fake CPU devices if given."""
    count = [f"--xla_force_host_platform_device_count={devices}"] if devices else []
    return " ".join(filter(None, [suite_flags(), *count]))
