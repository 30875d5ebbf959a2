"""The references generated from the code: `make docs` writes them, tests fail when they drift.

- docs/configuration.md from infra/settings.py (every setting, its default, what it does);
- docs/problem-types.md from api/problem_types.py (every problem type, its status, its meaning);
- openapi.json from the app (the document `GET /openapi.json` serves);
- docs/fhir/examples/ from the FHIR adapter (dev/fhir_examples.py: a Communication per entry
  kind).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from api.app import create_app
from api.problems import problem_types
from dev import fhir_examples
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "make docs"
_GENERATED = "<!-- Generated from {source} by `make docs`; edit the code, not this file. -->"


def _default(field: FieldInfo) -> str:
    if field.default is None:
        return "(unset)"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`" if str(field.default) else "(empty)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_table(
    title: str, source: str, intro: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]
) -> str:
    """A generated reference page: its title, where it comes from, a line on it, one table."""
    lines = [
        f"# {title}",
        "",
        _GENERATED.format(source=source),
        "",
        intro,
        "",
        f"| {' | '.join(columns)} |",
        f"|{'---|' * len(columns)}",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def configuration_markdown() -> str:
    return _markdown_table(
        "Configuration",
        "infra/settings.py",
        "Every setting is an environment variable; the API, the worker and `alembic` read the "
        "ones they need at start. A setting without a default is unset until you set it.",
        ("variable", "default", "what it does"),
        [
            (f"`{name.upper()}`", _default(field), _cell(field.description or ""))
            for name, field in Settings.model_fields.items()
        ],
    )


def problem_types_markdown() -> str:
    return _markdown_table(
        "Problem types",
        "api/problem_types.py",
        "Every error is `application/problem+json` (RFC 9457) with `type`, `title`, `status` "
        "and `detail`; a client tells refusals apart by `status` and `type`, never by `detail`.",
        ("status", "type", "title", "meaning"),
        [
            (str(p.status), f"`{p.uri}`", p.answered_title, _cell(p.meaning))
            for p in problem_types()
        ],
    )


def openapi_json() -> str:
    """The app's document; no setting changes it, so any valid settings build it."""
    app = create_app(Settings(auth_hs256_secret="x" * 32))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def references() -> dict[Path, str]:
    return {
        ROOT / "docs" / "configuration.md": configuration_markdown(),
        ROOT / "docs" / "problem-types.md": problem_types_markdown(),
        ROOT / "openapi.json": openapi_json(),
        **fhir_examples.files(),
    }


def main() -> None:
    for path, text in references().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
