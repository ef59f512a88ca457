"""Console logging: gendl's own INFO lines, only warnings and errors from libraries.

Orbax logs a dozen INFO lines per checkpoint and TFDS a few per load; at INFO they would
bury the progress lines. Everything still goes through absl logging, so `--verbosity` and
`--log_dir` keep working; this only filters what reaches the console handler.
"""

import logging as py_logging
import os

from absl import logging

_GENDL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class _QuietLibraries(py_logging.Filter):
    def filter(self, record: py_logging.LogRecord) -> bool:
        return record.levelno >= py_logging.WARNING or record.pathname.startswith(_GENDL_DIR)


def setup(verbosity=logging.INFO) -> None:
    logging.set_verbosity(verbosity)
    handler = logging.get_absl_handler()
    if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
        handler.addFilter(_QuietLibraries())
