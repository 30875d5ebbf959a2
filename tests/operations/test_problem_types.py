"""Every problem the code can answer is in api/problem_types.py, so in docs/problem-types.md.

The code is read, not run: each `Problem(status, ..., kind=..., title=...)` it builds, and each
call of a factory that passes its `kind` parameter on (`retry_later`), names a (status, type,
title) that the table must list; the table lists nothing the code cannot answer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from api.problem_types import PROBLEM_TYPES, ProblemType

ROOT = Path(__file__).resolve().parents[2]
# Where code that answers HTTP lives; tests and the harness build no answers of their own.
PACKAGES = ("api", "dev", "infra")
# Starlette raises these itself (no route for the path; no route for the method), and
# `_on_http_exception` in api/problems.py answers them with the status it is given;
# tests/api/test_openapi.py sees both over HTTP.
FROM_STARLETTE = {(404, "about:blank", "Not Found"), (405, "about:blank", "Method Not Allowed")}
STATUS_PASSED_ON = {"_on_http_exception"}

Answer = tuple[int, str, str]


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


def _name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _kind_factories(modules: list[tuple[Path, ast.Module]]) -> dict[str, tuple[int, str | None]]:
    """Functions that build a Problem with a literal status and the kind their caller passes:
    their name -> (status, the kind parameter's default)."""
    factories: dict[str, tuple[int, str | None]] = {}
    for _, module in modules:
        for function in ast.walk(module):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            defaults = {
                arg.arg: default
                for arg, default in zip(
                    function.args.kwonlyargs, function.args.kw_defaults, strict=True
                )
            }
            for call in ast.walk(function):
                kind = _keyword(call, "kind") if isinstance(call, ast.Call) else None
                if (
                    isinstance(call, ast.Call)
                    and _name(call) == "Problem"
                    and isinstance(call.args[0], ast.Constant)
                    and isinstance(kind, ast.Name)
                    and kind.id in defaults
                ):
                    default = defaults[kind.id]
                    assert isinstance(default, ast.Constant), function.name
                    status, kind_default = call.args[0].value, default.value
                    assert isinstance(status, int) and isinstance(kind_default, str | None)
                    factories[function.name] = (status, kind_default)
    return factories


def _literal(node: ast.expr | None, where: str) -> str | None:
    if node is None:
        return None
    assert isinstance(node, ast.Constant) and isinstance(node.value, str | type(None)), (
        f"{where}: a problem's kind and title are literals here, or the table cannot be checked"
    )
    return node.value


def raised() -> set[Answer]:
    """(status, type URI, title) of every problem the code builds."""
    modules = list(_modules())
    factories = _kind_factories(modules)
    answers: set[Answer] = set()
    for path, module in modules:
        for function in ast.walk(module):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(function):
                if not isinstance(call, ast.Call):
                    continue
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                name = _name(call)
                if name == "Problem":
                    status = call.args[0]
                    if not isinstance(status, ast.Constant):
                        assert function.name in STATUS_PASSED_ON, f"{where}: a literal status"
                        continue
                    kind_node = _keyword(call, "kind")
                    if function.name in factories and isinstance(kind_node, ast.Name):
                        continue  # counted at each call of the factory
                    kind = _literal(kind_node, where)
                elif name in factories:
                    status = ast.Constant(factories[name][0])
                    given = _keyword(call, "kind")
                    kind = _literal(given, where) if given else factories[name][1]
                else:
                    continue
                title = _literal(_keyword(call, "title"), where)
                assert isinstance(status.value, int), f"{where}: an int status"
                shown = ProblemType(status.value, kind, "", title)
                answers.add((status.value, shown.uri, shown.answered_title))
    return answers


def tabled() -> set[Answer]:
    return {(p.status, p.uri, p.answered_title) for p in PROBLEM_TYPES}


def test_the_reading_finds_problems_built_every_way() -> None:
    """The reading itself: literal kinds, no kind, and a factory's default and passed kinds."""
    assert {
        (409, "urn:econsult:problem:closed", "Conflict"),
        (401, "about:blank", "Unauthorized"),
        (503, "urn:econsult:problem:unavailable", "Service Unavailable"),
        (503, "urn:econsult:problem:command-not-taken", "Service Unavailable"),
        (410, "about:blank", "Gone"),
        (422, "urn:econsult:problem:refused", "Request refused"),
    } <= raised()


def test_every_problem_the_code_can_answer_is_in_the_table() -> None:
    missing = (raised() | FROM_STARLETTE) - tabled()
    assert not missing, f"add {sorted(missing)} to api/problem_types.py"


def test_the_table_lists_nothing_the_code_cannot_answer() -> None:
    never = tabled() - raised() - FROM_STARLETTE
    assert not never, f"nothing answers {sorted(never)}: drop it from api/problem_types.py"


def test_every_problem_the_code_can_answer_is_in_the_document() -> None:
    document = (ROOT / "docs" / "problem-types.md").read_text()
    absent = [
        (p.status, p.uri)
        for p in PROBLEM_TYPES
        if f"| {p.status} | `{p.uri}` | {p.answered_title} | {p.meaning} |" not in document
    ]
    assert not absent, f"docs/problem-types.md lacks {absent}: run `make docs`"


def test_every_problem_type_a_guide_names_is_in_the_table() -> None:
    tabled = {p.uri for p in PROBLEM_TYPES}
    named = {
        uri.rstrip(".,;:)`")
        for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
        for uri in _urns(page.read_text())
    }
    assert named <= tabled, f"the guides name problem types no code answers: {named - tabled}"


def _urns(text: str) -> Iterator[str]:
    start = text.find("urn:econsult:problem:")
    while start != -1:
        end = start
        while end < len(text) and (text[end].isalnum() or text[end] in ":-"):
            end += 1
        yield text[start:end]
        start = text.find("urn:econsult:problem:", end)
