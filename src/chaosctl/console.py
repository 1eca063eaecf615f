"""The one way chaosctl makes a rich Console, and the two ways user text reaches it safely.

Names and reasons come from scenario files, trace data and remote services: anything
a user or a server wrote. Before rich sees such text it goes through `plain()` (control
characters out: an ESC sequence in a span name must not recolour or clear a terminal,
a bidi override must not reorder what follows) and, where rich parses markup, `markup()`
(`[bold]`, `[/]`, `[link=...]` shown as written, never interpreted: an unbalanced `[/]`
is a MarkupError traceback).
"""

from __future__ import annotations

import re

from rich.console import Console

# C0 controls except tab and newline, DEL, C1 controls, zero-width and bidi formatting characters.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]")
_BREAKS = re.compile("[\t\n]")


def default_console(stderr: bool = False) -> Console:
    """A terminal keeps its width; a CI log or a pipe gets 160 columns so that tables are not cut to 80."""
    con = Console(stderr=stderr)
    return con if con.is_terminal else Console(width=160, stderr=stderr)


def plain(text: object, multiline: bool = False) -> str:
    """`text` as a string without control characters; tabs and newlines become spaces unless `multiline`."""
    out = _CONTROL.sub("", str(text))
    return out if multiline else _BREAKS.sub(" ", out)


def markup(text: object, multiline: bool = False) -> str:
    """`plain(text)` escaped for rich markup: printed exactly as written."""
    from rich.markup import escape

    return escape(plain(text, multiline))
