"""`make test` on a machine without the browser its UI tests drive: one line says what to do."""

from __future__ import annotations

import re
import subprocess
import sys
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


def test_ci_runs_the_restore_drill_and_the_migrations_on_the_embedded_server_too() -> None:
    assert re.search(r"^make embedded-postgres$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text()
    dead = re.search(r"^EMBEDDED_TEST_DATABASE_URL := \S+:(\d+)/", makefile, re.MULTILINE)
    assert dead and int(dead.group(1)) < 1024, "a privileged port nothing listens on"
    collected = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "embedded_postgres"),
            *("tests/operations/test_restore.py", "tests/store"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "test_restore.py::test_reconcile_brings_a_restored_case_store_back" in collected
    assert "test_charges.py::test_the_migration_turns_stored_free_text_into_codes" in collected
    assert "test_figures.py::test_the_migration_counts_the_rows_already_there" in collected
