"""Keep the tap's config files private: they hold ``mask_key``.

Meltano writes ``.meltano/run/<plugin>/*.config.json`` for each run and removes it
afterwards, but a killed run (SIGKILL) leaves it behind, readable by every user (0644).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterable

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def make_private(paths: Iterable[str], logger: logging.Logger) -> None:
    """Make each config file owner-only, and its ``.meltano/run`` directories too.

    Args:
        paths: The ``--config`` arguments (``ENV`` is skipped).
        logger: Where to warn about a file that cannot be changed.
    """
    for name in paths:
        if name == "ENV":
            continue
        path = Path(name).absolute()
        try:
            path.chmod(FILE_MODE)
            for directory in _meltano_run_directories(path):
                directory.chmod(DIRECTORY_MODE)
        except OSError as error:
            logger.warning("Cannot make config file %s private: %s", path, error.strerror)


def _meltano_run_directories(path: Path) -> list[Path]:
    """Return the directories from the file's up to ``.meltano/run``; none elsewhere."""
    directories = []
    for directory in path.parents:
        directories.append(directory)
        if directory.name == "run" and directory.parent.name == ".meltano":
            return directories
    return []
