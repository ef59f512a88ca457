"""Command-line plumbing of every entry point (gendl.main, sample, evaluate, anomaly, floors,
bench): flag parsing, console set-up, and user errors printed as one message, not a traceback.
"""

import os
import sys
import traceback

import jax
from absl import app, flags, logging

from gendl import checkpointing
from gendl.config import ConfigError
from gendl.data.source import DataError
from gendl.monitoring import console
from gendl.parallel import peer_death
from gendl.training import loop

# Failures whose message already says what to do: print it, no traceback wall.
USER_ERRORS = (ConfigError, DataError, checkpointing.CheckpointError, loop.NonFiniteLossError)
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, what a scheduler expects from a preempted job


def run(main_fn, name="gendl", verbosity=logging.INFO):
    """`app.run` of `main_fn(argv) -> exit code (None: 0)` with gendl's flag parser; exits."""
    app.run(lambda argv: sys.exit(call(main_fn, argv, name, verbosity)), flags_parser=parse_flags)


def call(main_fn, argv, name="gendl", verbosity=logging.INFO) -> int:
    """Runs `main_fn(argv)` with the console set up; a user error or a preemption becomes a
    message on stderr and the exit code (1, or 143 after a preemption's checkpoint)."""
    console.setup(verbosity)
    try:
        return main_fn(argv) or 0
    except USER_ERRORS as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 1
    except loop.Preempted as e:
        print(f"{name}: {e}", file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    except jax.errors.JaxRuntimeError as e:
        if not peer_death.lost_peer(e):
            raise
        print(f"{name}: error: {peer_death.lost_peer_message(e)}", file=sys.stderr)
        return 1


def parse_flags(argv):
    """absl's parser, with config-override mistakes reported as one clear message.

    ml_collections raises plain AttributeError/KeyError/TypeError/ValueError from inside flag
    parsing (e.g. for `--config.batchsize=3`), which absl would show as a traceback.
    """
    try:
        args = flags.FLAGS(argv)
        if "config" in flags.FLAGS and flags.FLAGS["config"].present:
            flags.FLAGS.config.get("seed")  # a config file that failed to load raises here
        return args
    except Exception as e:  # noqa: BLE001 (a config file can raise anything; the rest re-raise)
        _fail_on_config_file_error(e, argv)
        _fail_on_flag_error(e, argv)
        raise


def _fail_on_config_file_error(e, argv):
    """A config file that does not compile or whose get_config() raises: one paragraph with
    the file, the line and the error."""
    path = _config_path(argv)
    if path is None:
        return
    for err in (e, e.__cause__, e.__context__):
        if err is None:
            continue
        if isinstance(err, SyntaxError) and os.path.abspath(err.filename or "") == path:
            line = err.lineno
        else:
            frames = [f for f in traceback.extract_tb(err.__traceback__) if _same(f.filename, path)]
            if not frames:
                continue
            line = frames[-1].lineno
        message = err.msg if isinstance(err, SyntaxError) else str(err)
        _fail(
            f"could not load the config file {path}: line {line}: {type(err).__name__}: "
            f"{message}. Fix that line (the file must define get_config() returning a "
            "ConfigDict), or pass another --config."
        )


def _config_path(argv):
    for arg in argv[1:]:
        if arg.startswith("--config="):
            return os.path.abspath(arg.split("=", 1)[1].split(":", 1)[0])
    return None


def _same(filename, path):
    return filename and os.path.abspath(filename) == path


def _fail_on_flag_error(e, argv):
    if isinstance(e, flags.Error):
        _fail(f"{_last_line(e)}. Run with --helpfull to list the flags.")
    if isinstance(e, OSError):
        _fail(
            f"could not load the config file: {_last_line(e)}. Pass --config=configs/<file>.py "
            "with a path relative to the current directory (run from the repository root)."
        )
    if isinstance(e, (AttributeError, KeyError, TypeError, ValueError)):
        overrides = [a.split("=")[0] for a in argv[1:] if a.startswith("--config.")]
        detail = str(e).strip("'\"").replace("\\n", " ").replace("\\'", "'").replace("\n", " ")
        _fail(
            f"bad config override ({detail}). The overrides given were: "
            f"{', '.join(overrides) or 'none'}. Each --config.<field>=<value> must name a field "
            "that the config file's get_config() defines (the config is locked, so typos "
            "cannot silently add new fields) and give a value of that field's type."
        )


def _last_line(e):
    """ml_collections embeds whole tracebacks in its messages; the last line is the point."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1].rstrip(".") if lines else type(e).__name__


def _fail(message):
    print(f"gendl: error: {message}", file=sys.stderr)
    sys.exit(2)
