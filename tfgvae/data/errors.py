"""The one exception type of the data layer, with one-line, actionable messages."""

import re

FIX_DATA_DIR = (
    "pass --data_dir or set TFGVAE_DATA_DIR to a folder laid out like ../shared/data "
    "(see docs/data.md)"
)
FIX_RECOPY = "re-copy the file from a verified source such as ../shared/data (see docs/data.md)"


class DataError(ValueError):
    """A data file is missing, corrupt or fails its checksum.

    The message is always a single line: what was looked for (full path), what is
    wrong, and how to fix it.
    """

    def __init__(self, message):
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip())


def data_error(what, path, problem, fix):
    """Builds a DataError reading '<what> <path>: <problem>; fix: <fix>'."""
    return DataError(f"{what} {path}: {problem}; fix: {fix}")
