"""The one way chaosctl makes a rich Console."""

from __future__ import annotations

from rich.console import Console


def default_console(stderr: bool = False) -> Console:
    """A terminal keeps its width; a CI log or a pipe gets 160 columns so that tables are not cut to 80."""
    con = Console(stderr=stderr)
    return con if con.is_terminal else Console(width=160, stderr=stderr)
