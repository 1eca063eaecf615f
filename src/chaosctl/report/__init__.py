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


def write_reports_safely(report: RunReport, directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Like write_reports, but one writer failing (a full disk, a bug) does not cost the others:
    (what was written, what failed and why)."""
    from chaosctl.report import html, json, junit, md

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return {}, [f"{directory}: cannot create the report folder: {exc.strerror}"]
    written: dict[str, Path] = {}
    failed: list[str] = []
    for key, writer in (("json", json), ("junit", junit), ("html", html), ("md", md)):
        try:
            written[key] = writer.write(report, directory)
        except Exception as exc:  # noqa: BLE001 - evidence is never thrown away because of one format
            failed.append(f"{directory / writer.FILENAME}: {type(exc).__name__}: {exc}")
    return written, failed


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
