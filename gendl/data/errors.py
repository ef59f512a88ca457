"""The errors of the data layer, in a module of their own so that every data module (sources,
builders, sampler) can import them without importing each other."""

import os


class DataError(RuntimeError):
    """A problem with the input data that the user can fix; the CLI prints only the message."""


class DataNotFoundError(DataError):
    """The dataset's original files are neither in the manual dir nor downloadable."""


def corrupt_file_error(path: str | os.PathLike, reason: str) -> DataError:
    """The error for an original file that exists but cannot be read as what it should be."""
    return DataError(
        f"The file {os.fspath(path)} is corrupt: {reason}. Delete it and download it again "
        "(or replace it with a good copy of the original file)."
    )
