"""report.html is self-contained and opens in headless Chromium (Debian's `chromium`) with its charts drawn."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from absent import component_missing
from report_sample import sample_report

from chaosctl.report import html
from chaosctl.report.model import RunReport

P99_RED = (0xD6, 0x27, 0x28)
PHASE_BLUE = (0xEA, 0xF1, 0xFB)


def test_page_is_self_contained() -> None:
    page = html.render(sample_report())
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", page)
    # the only URL is the SVG namespace, which is a name, not a fetch
    assert set(re.findall(r"https?://[^\s\"']+", page)) <= {"http://www.w3.org/2000/svg"}
    assert page.count("<svg") == 4 and "verdict: FAIL" in page and "⚡ latency link:gateway-&gt;model-gpu-1" in page


def test_page_escapes_data() -> None:
    report = sample_report()
    evil = RunReport(**{**report.__dict__, "scenario": "<img src=x onerror=alert(1)>"})
    assert "<img" not in html.render(evil)


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        component_missing(["chromium"], "not installed (scripts/setup.sh installs Debian's chromium package)")
    return exe


def _screenshot(page: Path, out: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    args = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        "--window-size=1000,1400", f"--screenshot={out}", page.as_uri(),
    ]
    # Our own process group, so that a hang is ended whole and nothing is left behind.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish the screenshot within 90 s")
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def test_report_opens_in_headless_chromium_and_is_not_blank(tmp_path: Path) -> None:
    from PIL import Image

    page = html.write(sample_report(), tmp_path)
    shot = tmp_path / "shot.png"
    done = _screenshot(page, shot, tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Uncaught" not in done.stderr and ":CONSOLE(" not in done.stderr
    image = Image.open(shot).convert("RGB")
    assert image.size == (1000, 1400)
    colors = dict((rgb, n) for n, rgb in image.getcolors(1 << 22))
    non_white = sum(n for rgb, n in colors.items() if rgb != (255, 255, 255))
    assert non_white > 0.05 * image.size[0] * image.size[1]
    assert colors.get(P99_RED, 0) > 200  # the p99 line was drawn
    assert colors.get(PHASE_BLUE, 0) > 10_000  # phases are shaded


def test_series_named_for_people_are_charted() -> None:
    from dataclasses import replace

    report = sample_report()
    renamed = tuple(replace(s, name={"latency_p99": "latency p99 (s)", "latency_p50": "latency p50 (s)",
                                     "error_ratio": "error ratio"}[s.name]) for s in report.series)
    page = html.render(replace(report, series=renamed))
    assert page.count("<polyline") == 3 and "no data</text>" not in page
