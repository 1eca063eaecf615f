"""Report writers. Every writer takes a RunReport; `rerender` rebuilds them all from report.json."""

from __future__ import annotations

from pathlib import Path

from chaosctl.report.model import RunReport


def write_reports(report: RunReport, directory: Path) -> dict[str, Path]:
    """Write report.json, junit.xml, report.html and report.md into `directory` (created if needed)."""
    from chaosctl.report import html, json, junit, md

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "json": json.write(report, directory),
        "junit": junit.write(report, directory),
        "html": html.write(report, directory),
        "md": md.write(report, directory),
    }


def rerender(directory: Path, show: bool = True) -> RunReport:
    """`chaosctl report DIR`: load DIR/report.json, print it, and rewrite junit/html/md beside it."""
    from chaosctl.report import console, html, json, junit, md

    directory = Path(directory)
    report = json.load(directory)
    target = directory if directory.is_dir() else directory.parent
    for writer in (junit, html, md):
        writer.write(report, target)
    if show:
        console.render(report)
    return report
