"""Every command the README and the configs' docstrings document must run as written.

Running them all would take hours, so each is checked for what makes a command fail at once:
the module exists, each flag is one that module defines, and the config file with its variant
and `--config.*` overrides loads and passes `config.validate` on the devices the command
implies (`XLA_FLAGS=--xla_force_host_platform_device_count=D launch/local.sh N` -> D * N
devices in N processes). The README's multi-process command once failed on exactly this.
"""

import ast
import os
import re
import shlex

import pytest
from absl import flags
from ml_collections import config_flags

from gendl import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Flags absl defines for every program.
ABSL_FLAGS = {"help", "helpfull", "helpshort", "helpxml", "flagfile", "undefok", "v", "verbosity"}
ABSL_FLAGS |= {"logtostderr", "alsologtostderr", "log_dir", "stderrthreshold", "only_check_args"}


def _spans(text):
    """Inline code spans and fenced code blocks (joined lines) of markdown or a docstring."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    inline = re.findall(r"`([^`]+)`", rest)
    lines = [line for block in blocks for line in block.splitlines()]
    # Docstrings: indented command lines outside backticks.
    bare = [
        line.strip() for line in rest.splitlines() if "python -m gendl." in line and "`" not in line
    ]
    return [" ".join(s.split()) for s in inline + lines + bare]


def _commands(text, source):
    """(source, env, program, processes, args) of each gendl command found in `text`."""
    found = []
    for span in _spans(text):
        for part in re.split(r"&&|;|, then ", span):
            if "python -m gendl." not in part and "launch/local.sh" not in part:
                continue
            try:
                tokens = shlex.split(part)
            except ValueError:
                continue
            env = dict(t.split("=", 1) for t in tokens if re.match(r"^[A-Z_]+=", t))
            if "launch/local.sh" in tokens:
                i = tokens.index("launch/local.sh")
                if i + 1 >= len(tokens) or not tokens[i + 1].isdigit():
                    continue  # the script named in prose, not a command
                program, processes, args = "main", int(tokens[i + 1]), tokens[i + 2 :]
            else:
                i = tokens.index("-m")
                program, processes, args = tokens[i + 1].split(".", 1)[1], 1, tokens[i + 2 :]
            args = [a for a in args if a.startswith("--")]
            found.append((source, env, program, processes, args))
    return found


def _documented():
    with open(os.path.join(ROOT, "README.md")) as f:
        commands = _commands(f.read(), "README.md")
    config_dir = os.path.join(ROOT, "configs")
    for name in sorted(os.listdir(config_dir)):
        if name.endswith(".py"):
            with open(os.path.join(config_dir, name)) as f:
                doc = ast.get_docstring(ast.parse(f.read())) or ""
            commands += _commands(doc, f"configs/{name}")
    return commands


COMMANDS = _documented()


def _defined_flags(program):
    with open(os.path.join(ROOT, "gendl", f"{program}.py")) as f:
        source = f.read()
    return set(re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", source)) | ABSL_FLAGS


def test_the_documentation_has_commands_to_check():
    programs = {c[2] for c in COMMANDS}
    assert {"main", "evaluate", "sample"} <= programs, programs
    assert any(c[3] > 1 for c in COMMANDS), "the README's multi-process command was not found"
    assert len([c for c in COMMANDS if c[0].startswith("configs/")]) >= 10


@pytest.mark.parametrize(
    "source, env, program, processes, args",
    COMMANDS,
    ids=[f"{c[0]}:{c[2]}:{' '.join(c[4])[:60]}" for c in COMMANDS],
)
def test_documented_command_parses_and_its_config_validates(
    source, env, program, processes, args, monkeypatch
):
    assert os.path.exists(os.path.join(ROOT, "gendl", f"{program}.py")), program
    defined = _defined_flags(program)
    for arg in args:
        name = arg[2:].split("=", 1)[0]
        if name.startswith("config."):
            continue
        assert name in defined, f"{source}: --{name} is not a flag of gendl.{program}"
    config_args = [a for a in args if a.startswith("--config")]
    if not any(a.startswith("--config=") for a in config_args):
        return
    monkeypatch.chdir(ROOT)
    values = flags.FlagValues()
    argv = ["prog", *config_args]
    # sys_argv: ml_collections finds the --config.* overrides there, as main does in sys.argv.
    config_flags.DEFINE_config_file(
        "config", None, "", flag_values=values, lock_config=True, sys_argv=argv
    )
    values(argv)
    config = values.config
    xla = env.get("XLA_FLAGS", "")
    per_process = re.search(r"xla_force_host_platform_device_count=(\d+)", xla)
    devices = (int(per_process.group(1)) if per_process else 1) * processes
    config_lib.validate(config, devices, processes)
