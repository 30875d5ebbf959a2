"""The generated references (`make docs`) are what the code says today, never older."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dev import fhir_examples, references
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
STALE = "{path} is stale: run `make docs` (python -m dev.references) and commit it"


@pytest.mark.parametrize(
    "path",
    [
        "docs/configuration.md",
        "docs/problem-types.md",
        "openapi.json",
        *(str(path.relative_to(ROOT)) for path in fhir_examples.files()),
    ],
)
def test_committed_reference_is_the_generated_one(path: str) -> None:
    generated = references.references()[ROOT / path]
    committed = (ROOT / path).read_text() if (ROOT / path).exists() else ""
    assert committed == generated, STALE.format(path=path)


def test_every_setting_says_what_it_does() -> None:
    undescribed = [name.upper() for name, f in Settings.model_fields.items() if not f.description]
    assert not undescribed, f"add description= to {undescribed} in infra/settings.py"


def test_the_committed_document_is_what_the_api_serves() -> None:
    document = json.loads((ROOT / "openapi.json").read_text())
    assert document["info"]["title"] == "E-consultation API"
    assert "/v1/consultations" in document["paths"]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


GUIDES = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_between_the_guides_resolve(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists() or (anchor and anchor not in _anchors(linked)):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to what is not there: {broken}"
