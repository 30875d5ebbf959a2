"""The generated references (`make docs`) are what the code says today, never older."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from api.problems import PROBLEM_TYPE_MEANINGS, problem_types
from dev import references
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
STALE = "{path} is stale: run `make docs` (python -m dev.references) and commit it"


@pytest.mark.parametrize(
    "path",
    ["docs/configuration.md", "docs/problem-types.md", "openapi.json"],
)
def test_committed_reference_is_the_generated_one(path: str) -> None:
    generated = references.references()[ROOT / path]
    committed = (ROOT / path).read_text() if (ROOT / path).exists() else ""
    assert committed == generated, STALE.format(path=path)


def test_every_setting_says_what_it_does() -> None:
    undescribed = [name.upper() for name, f in Settings.model_fields.items() if not f.description]
    assert not undescribed, f"add description= to {undescribed} in infra/settings.py"


def test_every_problem_type_the_api_raises_is_in_the_table() -> None:
    raised = {
        kind
        for source in (ROOT / "api").rglob("*.py")
        for kind in re.findall(r'\bkind="([a-z-]+)"', source.read_text())
    }
    tabled = {uri.removeprefix("urn:econsult:problem:") for _, uri, _ in problem_types()}
    assert raised <= tabled, f"add {raised - tabled} to _PROBLEM_TYPES in api/problems.py"
    assert set(PROBLEM_TYPE_MEANINGS) <= tabled, "a meaning for a type no status carries"


def test_the_committed_document_is_what_the_api_serves() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    assert document["info"]["title"] == "E-consultation API"
    assert "/v1/consultations" in document["paths"]
