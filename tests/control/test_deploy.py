"""The dashboard, alert rules and scrape config name only metrics and labels lowlat exports.

PyYAML is not a dependency, so the rule and scrape files keep to a plain YAML subset —
block mappings and sequences, one scalar per line, full-line comments — that
:func:`parse_yaml` below reads (and refuses anything outside it, so the files stay
YAML that Prometheus reads the same way). PromQL expressions are tokenized by
:func:`promql_names`: metric names, label names in selectors and in
``by``/``without``/``on``/``ignoring``/``group_left``/``group_right`` clauses, functions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lowlat.control.exporter import _SPECS, METRIC_NAMES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"

#: Labels Prometheus adds to every scraped series, and the bucket bound of histograms.
TARGET_LABELS = {"job", "instance"}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp",
    "clamp_max", "clamp_min", "delta", "deriv", "floor", "histogram_quantile", "idelta",
    "increase", "irate", "label_replace", "label_values", "max_over_time", "min_over_time",
    "predict_linear", "rate", "resets", "round", "scalar", "sort", "sort_desc",
    "sum_over_time", "time", "timestamp", "vector",
}  # fmt: skip
AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
                "quantile", "count_values", "group"}  # fmt: skip
LABEL_CLAUSES = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset"}


# --- the exporter's families ---------------------------------------------------------------


def exposed_labels() -> dict[str, set[str]]:
    """Every series name the exporter exposes → the labels it carries."""
    out: dict[str, set[str]] = {}
    for spec in _SPECS:
        labels = set(spec.labels)
        if spec.kind == "histogram":
            out[f"{spec.name}_bucket"] = labels | {"le"}
            out[f"{spec.name}_sum"] = labels
            out[f"{spec.name}_count"] = labels
        else:
            out[spec.exposed] = labels
    return out


def test_exposed_series_cover_metric_names():
    series = exposed_labels()
    assert set(METRIC_NAMES) <= set(series) | {s.name for s in _SPECS if s.kind == "histogram"}
    assert "lowlat_stage_latency_microseconds_bucket" in series
    assert "lowlat_events_total" in series


# --- a YAML subset -------------------------------------------------------------------------

_PLAIN_FORBIDDEN_START = tuple("[]{}&*!|>%@`'\"")


def _scalar(text: str, where: int) -> str:
    if text.startswith('"'):
        assert text.endswith('"') and len(text) >= 2, f"line {where}: unterminated string"
        return json.loads(text)
    if text.startswith("'"):
        assert text.endswith("'") and len(text) >= 2, f"line {where}: unterminated string"
        return text[1:-1].replace("''", "'")
    assert not text.startswith(_PLAIN_FORBIDDEN_START), f"line {where}: {text!r}"
    assert ": " not in text and " #" not in text, f"line {where}: ambiguous plain {text!r}"
    return text


def parse_yaml(text: str) -> Any:
    """Parse the block-YAML subset the deploy files use (see the module docstring)."""
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        assert "\t" not in raw, f"line {number}: tab"
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            lines.append((len(raw) - len(raw.lstrip(" ")), stripped, number))
    value, pos = _block(lines, 0, lines[0][0])
    assert pos == len(lines), f"line {lines[pos][2]}: unexpected indentation"
    return value


_KEY = re.compile(r"^([A-Za-z_][\w.-]*):(?: (.*))?$")


def _block(lines: list[tuple[int, str, int]], pos: int, indent: int) -> tuple[Any, int]:
    if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
        items = []
        while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("-"):
            content, number = lines[pos][1][1:].strip(), lines[pos][2]
            if _KEY.match(content):  # a mapping starting on the dash's line
                lines = [*lines[:pos], (indent + 2, content, number), *lines[pos + 1 :]]
                item, pos = _block(lines, pos, indent + 2)
            else:
                item, pos = _scalar(content, number), pos + 1
            items.append(item)
        return items, pos
    mapping: dict[str, Any] = {}
    while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
        _, content, number = lines[pos]
        match = _KEY.match(content)
        assert match, f"line {number}: not 'key: value': {content!r}"
        key, rest = match.groups()
        assert key not in mapping, f"line {number}: duplicate key {key}"
        pos += 1
        if rest:
            mapping[key] = _scalar(rest, number)
            continue
        assert pos < len(lines), f"line {number}: {key} has no value"
        child = lines[pos][0]
        sequence_here = child == indent and lines[pos][1].startswith("-")
        assert child > indent or sequence_here, f"line {number}: {key} has no value"
        mapping[key], pos = _block(lines, pos, child)
    return mapping, pos


def test_yaml_subset_parser_reads_nested_blocks_and_refuses_the_rest():
    text = 'a:\n  - name: x\n    list:\n      - "1:2"\n      - y\nb: plain text\n'
    assert parse_yaml(text) == {"a": [{"name": "x", "list": ["1:2", "y"]}], "b": "plain text"}
    with pytest.raises(AssertionError):
        parse_yaml("a: b: c\n")
    with pytest.raises(AssertionError):
        parse_yaml("a: {b: 1}\n")


# --- PromQL --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<var>\$\w+)|(?P<number>\d[\w.]*)'
    r"|(?P<ident>[A-Za-z_:][\w:]*)|(?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],]))"
)


def tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    expr = expr.rstrip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        assert match and match.end() > pos, f"cannot tokenize {expr[pos:]!r} in {expr!r}"
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def promql_names(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """Metric name → label names its selectors use; and label names of grouping clauses."""
    toks = tokens(expr)
    metrics: dict[str, set[str]] = {}
    grouping: set[str] = set()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "ident" and text in LABEL_CLAUSES and following == "(":
            i += 2
            while toks[i][1] != ")":
                if toks[i][0] == "ident":
                    grouping.add(toks[i][1])
                i += 1
        elif kind == "ident" and text in AGGREGATIONS and following in ("(", "by", "without"):
            pass
        elif kind == "ident" and following == "(" and text not in KEYWORDS:
            assert text in FUNCTIONS | AGGREGATIONS, f"unknown function {text!r} in {expr!r}"
        elif kind == "ident" and text not in KEYWORDS | LABEL_CLAUSES:
            labels = metrics.setdefault(text, set())
            if following == "{":
                i += 2
                while toks[i][1] != "}":
                    if toks[i][0] == "ident":
                        labels.add(toks[i][1])
                    i += 1
        elif text == "{":
            raise AssertionError(f"a selector without a metric name in {expr!r}")
        i += 1
    return metrics, grouping


def check_expression(expr: str, extra_labels: set[str] = frozenset()) -> set[str]:
    """Assert that ``expr`` uses only exposed series and their labels; return the names."""
    series = exposed_labels()
    metrics, grouping = promql_names(expr)
    assert metrics, f"no metric in {expr!r}"
    known: set[str] = set(TARGET_LABELS)
    for name, labels in metrics.items():
        assert name in series, f"{name} is not exposed by lowlat (in {expr!r})"
        unknown = labels - series[name] - TARGET_LABELS - {"__name__"}
        assert not unknown, f"{name} has no label(s) {sorted(unknown)} (in {expr!r})"
        known |= series[name]
    unknown = (grouping | set(extra_labels)) - known
    assert not unknown, f"label(s) {sorted(unknown)} are on no metric of {expr!r}"
    return set(metrics)


def test_promql_checker_catches_wrong_names_labels_and_functions():
    assert check_expression('rate(lowlat_events_total{counter="ingest"}[1m])') == {
        "lowlat_events_total"
    }
    bad = (
        "lowlat_events",  # a counter without _total
        'rate(lowlat_stage_budget_breaches_total{ring="x"}[1m])',  # not its label
        "sum by (ring) (lowlat_lifecycle_state)",  # grouping by a label it lacks
        "rte(lowlat_events_total[1m])",  # typo in a function
        "lowlat_nonexistent_metric > 0",
    )
    for expr in bad:
        with pytest.raises(AssertionError):
            check_expression(expr)


# --- the alert rules and scrape config -----------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    rules = parse_yaml((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_alert_rules_use_only_exported_metrics_and_labels():
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    used: set[str] = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        templated = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
        used |= check_expression(rule["expr"], templated)
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
        runbook = rule["annotations"]["runbook"]
        assert (RUNBOOKS.parent.parent / runbook).is_file(), f"{rule['alert']}: {runbook}"
        assert rule["annotations"]["summary"]
    # the states and conditions the brief asks to alert on
    text = " ".join(rule["expr"] for rule in rules)
    for needle in (
        'state="READY"',
        'state="DEGRADED"',
        'state="HALTED"',
        "lowlat_sidecar_up",
        'stage="decision"',
        "lowlat_ring_consumer_lag",
        "lowlat_ring_consumer_overruns_total",
        "lowlat_lane_dropped_total",
        "lowlat_risk_rejections_total",
        "lowlat_stage_budget_breaches_total",
    ):
        assert needle in text, needle  # fmt: skip
    not_ready = next(rule for rule in rules if 'state="READY"' in rule["expr"])
    assert not_ready["for"] == "1m"


def test_prometheus_config_scrapes_the_control_endpoint_and_loads_the_rules():
    config = parse_yaml((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9464"]


# --- the dashboard -------------------------------------------------------------------------


def dashboard_panels() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    dashboard = json.loads((DEPLOY / "grafana" / "lowlat.json").read_text(encoding="utf-8"))
    return dashboard, [p for p in dashboard["panels"] if p["type"] != "row"]


def test_dashboard_queries_use_only_exported_metrics_and_labels():
    dashboard, panels = dashboard_panels()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used: set[str] = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            used |= check_expression(target["expr"], legend)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"])
            assert match, variable["definition"]
            check_expression(match.group(1), {match.group(2)})
    for needle in (
        "lowlat_stage_latency_microseconds_bucket",
        "lowlat_events_total",
        "lowlat_ring_occupancy_ratio",
        "lowlat_ring_consumer_lag",
        "lowlat_lane_dropped_total",
        "lowlat_breaker_instruments",
        "lowlat_breaker_market_level",
        "lowlat_risk_rejections_total",
        "lowlat_lifecycle_state",
        "lowlat_sidecar_up",
        "lowlat_stage_budget_breaches_total",
    ):
        assert needle in used, needle  # fmt: skip


def test_dashboard_latency_panel_has_trusted_p50_p99_p999():
    _, panels = dashboard_panels()
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    for q in ("0.5", "0.99", "0.999"):
        assert any(
            e.startswith(f"histogram_quantile({q},")
            and "lowlat_stage_latency_microseconds_bucket" in e
            and 'trusted="true"' in e
            for e in exprs
        ), q


def test_dashboard_panels_fit_the_grid():
    dashboard, _ = dashboard_panels()
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


# --- the runbooks --------------------------------------------------------------------------

REQUIRED_RUNBOOKS = ("index", "degraded", "kill-switch", "slow-consumer", "venue-disconnect",
                     "feed-gap", "restart-recovery", "clock-jump")  # fmt: skip


def test_runbooks_name_only_real_metrics_and_alerts():
    series = set(exposed_labels()) | set(METRIC_NAMES)
    alerts = {rule["alert"]: rule for rule in alert_rules()}
    texts = {path.stem: path.read_text(encoding="utf-8") for path in RUNBOOKS.glob("*.md")}
    texts["deploy-README"] = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert set(REQUIRED_RUNBOOKS) <= set(texts)
    for name, text in texts.items():
        for metric in set(re.findall(r"\blowlat_[a-z_]+", text)):
            assert metric in series, f"{name}: {metric} is not a lowlat metric"
        for alert in set(re.findall(r"\bLowlat[A-Za-z0-9]+", text)):
            assert alert in alerts, f"{name}: no alert {alert}"
        for link in re.findall(r"\]\(([\w-]+\.md)\)", text):
            assert (RUNBOOKS / link).is_file(), f"{name}: broken link {link}"
        if name not in ("index", "deploy-README"):
            assert "## Needs operator approval" in text, name
            for heading in ("## Symptoms", "## Checks", "## Actions"):
                assert heading in text, f"{name}: no {heading!r}"
    for alert, rule in alerts.items():  # each alert's runbook talks about it
        runbook = Path(rule["annotations"]["runbook"]).stem
        assert alert in texts[runbook], f"{runbook}.md does not mention {alert}"
        assert alert in texts["index"], f"index.md does not list {alert}"
