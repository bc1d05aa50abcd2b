"""The Grafana dashboard: its structure, and every panel's PromQL run against a real Prometheus that
scrapes a real agent. A panel with no data must be explained by the agent (family or metric unavailable)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import Stack, get

DASHBOARD = Path(__file__).resolve().parents[2] / "resources/grafana/perfdeck.json"
ROWS = ["CPU", "Memory", "Disks", "Network", "Sensors", "CPU performance", "Cache", "Memory bandwidth",
        "Power"]


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _graph_panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] not in ("row",)]


def test_one_row_per_tab_an_instance_variable_and_units() -> None:
    dashboard = _dashboard()
    assert [p["title"] for p in dashboard["panels"] if p["type"] == "row"] == ROWS
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert "label_values(perfdeck_build_info, instance)" in json.dumps(variables["instance"])
    for panel in _graph_panels():
        targets = panel["targets"]
        assert targets and all('instance=~"$instance"' in t["expr"] for t in targets), panel["title"]
        if panel["type"] == "timeseries":
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]


def test_the_generator_wrote_this_file() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_dashboard", DASHBOARD.with_name("make_dashboard.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dashboard() == _dashboard(), "run resources/grafana/make_dashboard.py after editing it"


def _substitute(expr: str, instance: str) -> str:
    """What Grafana sends: the instance regex-escaped inside a PromQL string (so each backslash doubled)."""
    escaped = re.escape(instance).replace("\\", "\\\\")
    return expr.replace("$instance", escaped).replace("$__rate_interval", "5s")


def test_every_panel_query_parses_and_returns_data_or_a_reason(stack: Stack) -> None:
    stack.wait_for_scrapes(stack.scrapes() + 3)  # rate() over 5 s needs a few samples
    instance = stack.query(f'perfdeck_build_info{{job="{stack.job}"}}')[0]["metric"]["instance"]
    families = {r["metric"]["family"]: float(r["value"][1]) == 1.0
                for r in stack.query(f'perfdeck_family_available{{job="{stack.job}"}}')}
    family_reasons = {r["metric"]["family"]: r["metric"]["reason"]
                      for r in stack.query("perfdeck_family_unavailable_info")}
    metric_reasons = {r["metric"]["metric"]: r["metric"]["reason"]
                      for r in stack.query("perfdeck_metric_unavailable_info")}
    empty: dict[str, str] = {}
    unexplained: list[str] = []
    for panel in _graph_panels():
        returned = False
        for target in panel["targets"]:
            returned |= bool(stack.query(_substitute(target["expr"], instance)))  # raises on a parse error
        if returned or panel["type"] == "table":
            continue
        metrics = set(re.findall(r"\bperfdeck_\w+", " ".join(t["expr"] for t in panel["targets"])))
        reasons = []
        for metric in sorted(metrics):
            family = max((f for f in families if metric.startswith(f"perfdeck_{f}_")), key=len, default=None)
            if family is not None and not families[family]:
                reasons.append(f"{family}: {family_reasons.get(family, '?')}")
            elif metric in metric_reasons:
                reasons.append(f"{metric}: {metric_reasons[metric]}")
        if reasons and len(reasons) == len(metrics):  # every metric of the panel is explained
            empty[panel["title"]] = reasons[0]
        else:
            unexplained.append(f"{panel['title']} ({', '.join(sorted(metrics))})")
    assert not unexplained, f"panels with no data and no reason from the agent: {unexplained}"
    # What needs hardware this machine lacks is listed, with the agent's reason (shown with pytest -rA).
    for title, reason in empty.items():
        print(f"empty here: {title}: {reason}")
    assert all(families[f] for f in ("cpu", "mem")), "cpu and mem always work on Linux"
    assert set(empty) != {p["title"] for p in _graph_panels() if p["type"] != "table"}, "every panel is empty"


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is missing: install Debian's 'prometheus' package")
def test_the_example_config_and_recording_rules_are_valid() -> None:
    folder = DASHBOARD.parent
    for command in (["check", "config", "prometheus.yml"], ["check", "rules", "perfdeck-rules.yml"]):
        result = subprocess.run([PROMTOOL, *command], cwd=folder, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_recording_rules_evaluate_on_the_real_prometheus(stack: Stack) -> None:
    """The test Prometheus loads perfdeck-rules.yml (evaluated every second): every rule is healthy,
    and the CPU one records a 0..1 value for the agent."""
    for _ in range(300):
        busy = stack.query("instance:perfdeck_cpu_busy:ratio_rate1m")  # "sum by (instance)" drops job
        if busy:
            break
        time.sleep(0.1)  # polling for the first evaluation with two samples; nothing asserts on time
    assert busy and 0.0 <= float(busy[0]["value"][1]) <= 1.0
    groups = json.loads(get(stack.prometheus + "/api/v1/rules").body)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 7
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
