"""deploy/prometheus: the alerting and SLO rules and the scrape config pass promtool's checks and
the rules' unit tests, every alert names a section of the operator guide with diagnosis steps
and metrics the service exposes, and Prometheus scrapes the ports docker-compose.yml gives the
API and the worker.

promtool comes with Debian's `prometheus` package (.ci/run installs it when missing); without
it these tests fail, they never skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operations.compose_file import published_ports, resolved_environment, service

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
SLOS = PROMETHEUS / "slo.yml"
RULE_FILES = (ALERTS, SLOS)
# Each rule file's promtool unit tests, beside it.
RULE_TESTS = tuple(path.with_suffix(".test.yml") for path in RULE_FILES)
CONFIG = PROMETHEUS / "prometheus.yml"
GUIDE = ROOT / "docs" / "guide-operator.md"
SEVERITIES = {"page", "ticket"}
# Where the exposed metric names are written, to catch a misspelt name in an expression.
METRIC_SOURCES = ("api", "infra")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is missing: install Debian's prometheus package "
            "(apt-get install -y prometheus)",
            pytrace=False,
        )
    return subprocess.run(
        [found, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False
    )


def assert_succeeds(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


@cache
def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def guide_headings() -> set[str]:
    return {line.lstrip("#").strip() for line in GUIDE.read_text().splitlines() if line[:2] == "##"}


def guide_section(heading: str) -> str:
    return guide_section_at_level("### ", heading)


def guide_section_at_level(marker: str, heading: str) -> str:
    """The text under `marker heading` up to the next heading of its level or above."""
    text = GUIDE.read_text()
    start = text.index(f"{marker}{heading}\n")
    level = len(marker.strip())
    following = re.search(rf"^#{{2,{level}}} ", text[start + level + 1 :], re.MULTILINE)
    return text[start : start + level + 1 + following.start()] if following else text[start:]


# --- promtool ---------------------------------------------------------------------------------


def test_alert_rules_pass_promtool_check_rules() -> None:
    assert_succeeds(promtool("check", "rules", *(path.name for path in RULE_FILES)))


def test_prometheus_config_passes_promtool_check_config() -> None:
    assert_succeeds(promtool("check", "config", CONFIG.name))


def test_alert_unit_tests_pass_promtool_test_rules() -> None:
    assert_succeeds(promtool("test", "rules", *(path.name for path in RULE_TESTS)))


# --- What the rules say -----------------------------------------------------------------------


def test_every_alert_has_a_severity_a_summary_and_a_runbook_section_of_the_guide() -> None:
    headings = guide_headings()
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["summary"], name
        runbook = re.fullmatch(
            r'docs/guide-operator\.md, section "(.+)"', rule["annotations"]["runbook"]
        )
        assert runbook, f'{name}: runbook must be docs/guide-operator.md, section "<heading>"'
        assert runbook.group(1) in headings, (
            f"{name}: docs/guide-operator.md has no {runbook.group(1)!r}"
        )


def test_the_guide_lists_every_alert() -> None:
    section = guide_section("Alerts (Prometheus)")
    listed = set(re.findall(r"`(EConsult\w+)`", section))
    assert listed == {rule["alert"] for rule in alert_rules()}


def runbook_heading(rule: dict[str, Any]) -> str:
    found = re.fullmatch(r'docs/guide-operator\.md, section "(.+)"', rule["annotations"]["runbook"])
    assert found, rule["alert"]
    return found.group(1)


def test_every_alerts_runbook_gives_diagnosis_commands_what_to_look_for_and_an_action() -> None:
    for heading in {runbook_heading(rule) for rule in alert_rules()}:
        section = guide_section(heading)
        diagnose = section.find("**Diagnose.**")
        assert diagnose >= 0, f"{heading}: no diagnosis steps"
        commands = re.search(r"```sh\n(.+?)```", section[diagnose:], re.DOTALL)
        assert commands and commands.group(1).strip(), f"{heading}: no commands to run"
        assert "Look for" in section[diagnose:], f"{heading}: not what to look for"
        assert section.find("**Act.**") > diagnose, f"{heading}: no action after the diagnosis"


def test_the_guides_metrics_tables_name_every_metric_the_alerts_use() -> None:
    observe = guide_section_at_level("## ", "Observe: metrics, alerts, traces, health, logs")
    for rule in alert_rules():
        for metric in set(re.findall(r"\b(?:econsult|temporal)_[a-z_]+", rule["expr"])):
            assert metric in observe, f"{rule['alert']} uses {metric}, which the guide omits"


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    checks = [
        check
        for path in RULE_TESTS
        for test in load(path)["tests"]
        for check in test.get("alert_rule_test", [])
    ]
    for rule in alert_rules():
        mine = [check for check in checks if check["alertname"] == rule["alert"]]
        assert any(check.get("exp_alerts") for check in mine), f"{rule['alert']} never fires"
        assert any(not check.get("exp_alerts") for check in mine), f"{rule['alert']} never silent"


def test_alerts_name_metrics_the_service_exposes() -> None:
    sources = "".join(
        path.read_text() for folder in METRIC_SOURCES for path in (ROOT / folder).rglob("*.py")
    )
    for rule in alert_rules():
        for metric in set(re.findall(r"\beconsult_\w+", rule["expr"])):
            # The SDK writes worker counters without `_total`; prometheus_client adds it for
            # CounterMetricFamily, so either spelling can be the one in the source.
            assert metric in sources or metric.removesuffix("_total") in sources, (
                f"{rule['alert']}: nothing exposes {metric}"
            )


# --- Prometheus in docker-compose.yml ---------------------------------------------------------


def scrape_targets(job: str) -> list[tuple[str, int]]:
    (config,) = [c for c in load(CONFIG)["scrape_configs"] if c["job_name"] == job]
    return [(name, sd["port"]) for sd in config["dns_sd_configs"] for name in sd["names"]]


def test_prometheus_scrapes_the_ports_compose_gives_the_api_and_the_worker() -> None:
    api_port = int(resolved_environment("api")["API_PORT"])
    worker_port = int(resolved_environment("worker")["WORKER_METRICS_ADDRESS"].rsplit(":", 1)[1])
    assert scrape_targets("econsult-api") == [("api", api_port)]
    assert scrape_targets("econsult-worker") == [("worker", worker_port)]
    assert str(worker_port) in service("worker")["expose"]


def test_compose_runs_prometheus_on_these_files_reachable_from_the_host_only() -> None:
    prometheus = service("prometheus")
    assert {
        "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
        *(f"./deploy/prometheus/{p.name}:/etc/prometheus/{p.name}:ro" for p in RULE_FILES),
    } <= set(prometheus["volumes"])
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    # rule_files are relative to the config file, so alerts.yml sits beside it in both places.
    assert load(CONFIG)["rule_files"] == [path.name for path in RULE_FILES]
    for entry in prometheus.get("ports") or []:
        assert str(entry).startswith("127.0.0.1:"), (
            f"Prometheus is published beyond loopback: {entry}"
        )
    assert [container for _, container in published_ports("prometheus")] == ["9090"]
