"""deploy/grafana/econsult.json: every query parses as PromQL (promtool, through a rules file
of one recording rule per query) and names only metrics the service exposes, the SLO rules
record, or the operator guide documents from the Temporal SDK."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.operations.test_alerts import (
    METRIC_SOURCES,
    ROOT,
    SLOS,
    assert_succeeds,
    guide_section_at_level,
    load,
    promtool,
)

DASHBOARD = ROOT / "deploy" / "grafana" / "econsult.json"
# Grafana's own variables, as a query sees them once Grafana has filled them in.
GRAFANA_VARIABLES = {"$__rate_interval": "2m", "$__interval": "1m", "$__range": "1d"}
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")


def queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    found = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert found, "the dashboard has no queries"
    return found


def as_prometheus_sees_it(query: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    assert "$" not in query, f"an unknown Grafana variable in {query}"
    return query


def test_every_query_parses_as_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": as_prometheus_sees_it(query)}
                    for i, query in enumerate(queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    assert_succeeds(promtool("check", "rules", str(path)))


def test_a_broken_query_fails_the_parse(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    rules = [{"record": "dashboard:broken", "expr": "sum(rate(econsult_http_requests_total[5m])"}]
    path.write_text(yaml.safe_dump({"groups": [{"name": "broken", "rules": rules}]}))
    assert promtool("check", "rules", str(path)).returncode != 0


def test_every_metric_a_query_names_exists() -> None:
    sources = "".join(
        path.read_text() for folder in METRIC_SOURCES for path in (ROOT / folder).rglob("*.py")
    )
    recorded = {
        rule["record"]
        for group in load(SLOS)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    documented = guide_section_at_level("## ", "Observe: metrics, alerts, traces, health, logs")
    for query in queries():
        for name in set(re.findall(r"\b(?:econsult|temporal)[_:][a-z0-9_:]+", query)):
            base = next((name.removesuffix(s) for s in HISTOGRAM_SERIES if name.endswith(s)), name)
            if ":" in name:
                assert name in recorded, f"no rule of slo.yml records {name}"
            elif name.startswith("temporal_"):
                assert base in documented, f"{name}: not an SDK metric the guide documents"
            else:
                assert base in sources or base.removesuffix("_total") in sources, (
                    f"nothing the service runs exposes {name}"
                )
