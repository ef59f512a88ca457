"""Command-line plumbing shared by `gendl.main` and `gendl.bench`."""

import sys

from absl import flags


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
    except flags.Error as e:
        _fail(f"{_last_line(e)}. Run with --helpfull to list the flags.")
    except OSError as e:
        _fail(
            f"could not load the config file: {_last_line(e)}. Pass --config=configs/<file>.py "
            "with a path relative to the current directory (run from the repository root)."
        )
    except (AttributeError, KeyError, TypeError, ValueError) as e:
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
