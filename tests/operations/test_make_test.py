"""`make test` on a machine without the browser its UI tests drive: one line says what to do."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.ui import conftest as ui

ROOT = Path(__file__).resolve().parents[2]


def test_make_test_names_the_missing_browser_in_one_line_and_fails() -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "browser", "CHROMIUM=/nonexistent/chromium"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    output = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode != 0
    assert len(output) == 1, output
    assert "apt-get install -y chromium" in output[0]


def test_make_test_checks_the_browser_the_ui_tests_launch() -> None:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^CHROMIUM \?= (\S+)$", makefile, re.MULTILINE)
    assert match and match.group(1) == ui.CHROMIUM
    assert re.search(r"^test: browser ", makefile, re.MULTILINE), "make test checks it first"
