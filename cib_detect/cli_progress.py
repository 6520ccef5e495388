"""The progress bar every long command shows on stderr (hidden when not a terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def stage_bar(console: Console, *, counts: bool = False, label_width: int = 14) -> Progress:
    """A transient bar: stage label, bar, optional done/total counts, elapsed time."""
    columns = [TextColumn(f"{{task.description:<{label_width}}}"), BarColumn()]
    if counts:
        columns.append(MofNCompleteColumn())
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
