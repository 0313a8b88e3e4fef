"""deploy/grafana/dashboard.json: valid by Grafana's published schema (the foundation SDK's,
vendored in tests/vendor/grafana-foundation-sdk), every query PromQL that Prometheus's own
parser accepts (each expression as a recording rule through ``promtool check rules``, since
promtool has no expression checker), every metric and label it reads present in what a real
daemon exported while rolling the blue/green example out, and every query showing data when
Prometheus's engine evaluates it over that recording.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox
from tests.access_denied import AccessDenied
from tests.analysis_harness import BASELINE
from tests.bluegreen_harness import example_copy
from tests.promtool_harness import (
    ROOT,
    STEP,
    TARGET,
    Recorder,
    at,
    case,
    promtool_test,
    run_promtool,
    samples,
)

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
SCHEMAS = Path(__file__).parent / "vendor" / "grafana-foundation-sdk"
# Grafana panel type -> the SDK's schema of its options and fieldConfig.defaults.custom
PANEL_SCHEMAS = {
    "timeseries": "timeseries",
    "stat": "stat",
    "table": "table",
    "state-timeline": "statetimeline",
}
# What Grafana puts in place of its variables before the query reaches Prometheus.
VARIABLES = {
    "$__rate_interval": "2m",
    "$__range": "6h",
    '=~"$name"': '=~".*"',
}
METRIC = re.compile(r"\b(?:reconciler|process|python)_[a-z0-9_]+\b")
MATCHERS = re.compile(r"\b(?P<metric>reconciler_[a-z0-9_]+)\{(?P<inner>[^}]*)\}")
LABEL = re.compile(r"\b(?P<label>[a-z_]+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|on|group_left|group_right)\s*\((?P<labels>[^)]*)\)")
LEGEND = re.compile(r"\{\{\s*(?P<label>[a-z_]+)\s*\}\}")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def schema(name: str, definition: str | None = None) -> dict[str, Any]:
    """A vendored schema, or one of its definitions (with the others, for its $refs)."""
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text())
    if definition is None:
        return loaded
    return {"$ref": f"#/definitions/{definition}", "definitions": loaded["definitions"]}


def problems(document: Any, against: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(against)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def panels(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in document["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(panel title, target) of every query."""
    for panel in panels(document):
        for target in panel.get("targets", []):
            yield panel.get("title", ""), target


def promql(expr: str) -> str:
    """``expr`` as Prometheus receives it from Grafana; any other variable is a mistake."""
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a variable the dashboard does not define: {expr}"
    return expr


# ------------------------------------------------------------------------------------------------
# Grafana's schema
# ------------------------------------------------------------------------------------------------


def test_the_dashboard_is_valid_by_grafanas_dashboard_schema() -> None:
    assert problems(dashboard(), schema("dashboard")) == []


def test_each_panel_and_query_is_valid_by_its_plugins_schema() -> None:
    found: list[str] = []
    for panel in panels(dashboard()):
        if panel["type"] == "row":
            continue
        kind = PANEL_SCHEMAS.get(panel["type"])
        assert kind is not None, f"no schema vendored for panel type {panel['type']}"
        where = f"{panel['title']}: "
        found += [where + p for p in problems(panel["options"], schema(kind, "Options"))]
        custom = panel["fieldConfig"]["defaults"].get("custom", {})
        if "FieldConfig" in schema(kind)["definitions"]:
            found += [where + p for p in problems(custom, schema(kind, "FieldConfig"))]
        for target in panel["targets"]:
            found += [where + p for p in problems(target, schema("prometheus"))]
    assert found == []


def test_the_schema_check_can_fail() -> None:
    """A panel option Grafana does not know, and a dashboard without its templating."""
    document = dashboard()
    stat = next(p for p in panels(document) if p["type"] == "stat")
    assert problems({**stat["options"], "colourMode": "x"}, schema("stat", "Options"))
    del document["templating"]
    assert problems(document, schema("dashboard"))


def test_a_datasource_and_a_name_variable_and_every_query_uses_the_datasource() -> None:
    document = dashboard()
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["name"]["type"] == "query"
    assert variables["name"]["query"] == "label_values(reconciler_service_condition, name)"
    chosen = {"type": "prometheus", "uid": "${datasource}"}
    assert variables["name"]["datasource"] == chosen
    for panel in panels(document):
        if panel["type"] != "row":
            assert panel["datasource"] == chosen, panel["title"]
            assert all(t["datasource"] == chosen for t in panel["targets"]), panel["title"]
    ids = [p["id"] for p in panels(document)]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------------------------
# PromQL, parsed by Prometheus
# ------------------------------------------------------------------------------------------------


def check_expressions(tmp_path: Path, exprs: list[str]) -> tuple[int, str]:
    """``promtool check rules`` of one recording rule per expression."""
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard_queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", str(path))
    return result.returncode, result.stdout + result.stderr


def test_every_query_is_promql_that_prometheus_parses(tmp_path: Path) -> None:
    exprs = [promql(t["expr"]) for _, t in queries(dashboard())]
    assert len(exprs) > 25
    code, output = check_expressions(tmp_path, exprs)
    assert code == 0, output
    assert f"SUCCESS: {len(exprs)} rules found" in output


def test_the_promql_check_can_fail(tmp_path: Path) -> None:
    code, output = check_expressions(tmp_path, ["sum by (name (reconciler_desired_valid)"])
    assert code != 0 and "parse error" in output, output


# ------------------------------------------------------------------------------------------------
# Metrics and labels, in what a real daemon exported
# ------------------------------------------------------------------------------------------------


def used_metrics(document: dict[str, Any]) -> set[str]:
    names = {m for _, t in queries(document) for m in METRIC.findall(t["expr"])}
    for variable in document["templating"]["list"]:
        names |= set(METRIC.findall(str(variable.get("query", ""))))
    return names


def record(sandbox: Sandbox, tmp_path: Path, wanted: set[str]) -> Recorder:
    """A daemon rolling the blue/green example out, scraped until it exported each ``wanted``
    metric; AWS errors come last, from one pass with DescribeAutoScalingGroups denied."""
    sandbox.clock.advance(BASELINE)
    seen: set[str] = set()
    errors = {"reconciler_aws_api_errors_total"}
    denied = frozenset({"DescribeAutoScalingGroups"})
    with AccessDenied(sandbox.endpoint, denied=denied) as proxy:
        aws = Aws(region="us-east-1", endpoint_url=proxy.endpoint)
        recorder = Recorder(sandbox, example_copy(tmp_path, tag="v1.1").parent, aws=aws)
        try:
            while not wanted - errors <= seen and len(recorder.scrapes) < 60:
                recorder.tick()
                seen |= {name for name, _, _ in samples(recorder.scrapes[-1][1] or "")}
            proxy.armed.set()
            recorder.tick()
        finally:
            recorder.stop()
    return recorder


def exported(recorder: Recorder) -> dict[str, set[str]]:
    """Sample name -> its label names in any scrape, with the ``job`` and ``instance`` that
    Prometheus adds."""
    found: dict[str, set[str]] = {}
    for _, text in recorder.scrapes:
        for name, labels, _ in samples(text or ""):
            found.setdefault(name, set(TARGET)).update(labels)
    return found


def label_problems(expr: str, legend: str, found: dict[str, set[str]]) -> list[str]:
    """Labels ``expr`` matches on, groups by or its legend shows that its metrics lack."""
    wrong = [
        f"{m['metric']} has no label {label}"
        for m in MATCHERS.finditer(expr)
        for label in LABEL.findall(m["inner"])
        if label not in found[m["metric"]]
    ]
    labels = set().union(*(found[m] for m in METRIC.findall(expr)))
    grouped = {x.strip() for g in GROUPING.findall(expr) for x in g.split(",") if x.strip()}
    shown = set(LEGEND.findall(legend))
    return wrong + [f"no metric of {expr} has {x}" for x in sorted((grouped | shown) - labels)]


def test_every_query_reads_exported_metrics_and_labels_and_shows_data(
    frozen: Sandbox, tmp_path: Path
) -> None:
    document = dashboard()
    wanted = used_metrics(document)
    recorder = record(frozen, tmp_path, wanted)
    found = exported(recorder)
    missing = wanted - found.keys()
    assert missing == set(), f"never exported: {missing}; {recorder.daemon.report()}"
    wrong = [
        f"{title}: {problem}"
        for title, target in queries(document)
        for problem in label_problems(target["expr"], target.get("legendFormat", ""), found)
    ]
    assert wrong == []
    # A query that matches nothing rides along, so the data check is seen to catch one.
    nothing = ("no such service", 'reconciler_service_condition{name="none"}')
    titled = [(title, promql(t["expr"])) for title, t in queries(document)]
    empty = queries_without_data(tmp_path, recorder, [*titled, nothing])
    assert empty == [nothing[0]], [e for e in titled if e[0] in empty]


def queries_without_data(
    tmp_path: Path, recorder: Recorder, titled: list[tuple[str, str]]
) -> list[str]:
    """The titles of the queries that return no series at any point of the recording, as
    Prometheus's own engine (promtool test rules) evaluates them: a join that matches nothing,
    or errs on many-to-many, returns none. One alert per query, on ``count`` of a subquery."""
    span = f"{(recorder.last + 1) * STEP}s"
    rules = [
        {"alert": f"Query{i}", "expr": f"count(max_over_time(({e})[{span}:{STEP}s])) > 0"}
        for i, (_, e) in enumerate(titled)
    ]
    path = tmp_path / "dashboard_data.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    cases = [case(at(recorder.last), f"Query{i}", {"exp_labels": {}}) for i in range(len(titled))]
    result = promtool_test(tmp_path, recorder, cases, rules=path)
    output = result.stdout + result.stderr
    assert result.returncode == 0 or "FAILED" in output, output
    return [title for i, (title, _) in enumerate(titled) if f"alertname: Query{i}," in output]


@pytest.mark.parametrize(
    ("expr", "legend", "complaint"),
    [
        ('reconciler_service_condition{service="x"}', "", "has no label service"),
        ("sum by (service) (reconciler_rollouts_total)", "", "has service"),
        ("reconciler_rollouts_total", "{{service}}", "has service"),
        ('sum by (name) (reconciler_rollouts_total{name="x"})', "{{name}}", ""),
    ],
)
def test_the_label_check_finds_a_wrong_label(expr: str, legend: str, complaint: str) -> None:
    """On a made-up scrape where ``name`` is the only label: ``service`` is not ours."""
    found = {"reconciler_service_condition": {"name"}, "reconciler_rollouts_total": {"name"}}
    wrong = label_problems(expr, legend, found)
    assert any(complaint in w for w in wrong) if complaint else wrong == [], wrong
