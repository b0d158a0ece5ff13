"""Metric and label names a PromQL expression reads (enough PromQL for dashboards and alert rules)."""

from __future__ import annotations

import re

FUNCTIONS = {
    # aggregation operators and keywords
    *[
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "limitk",
    ],
    *["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"],
    # functions
    *[
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "deriv",
        "predict_linear",
        "resets",
        "changes",
        "histogram_quantile",
    ],
    *[
        "absent",
        "absent_over_time",
        "avg_over_time",
        "max_over_time",
        "min_over_time",
        "sum_over_time",
        "count_over_time",
    ],
    *["last_over_time", "quantile_over_time", "stddev_over_time", "present_over_time"],
    *[
        "clamp",
        "clamp_min",
        "clamp_max",
        "label_replace",
        "label_join",
        "time",
        "vector",
        "scalar",
        "abs",
        "ceil",
        "floor",
        "round",
    ],
    *[
        "sort",
        "sort_desc",
        "timestamp",
        "exp",
        "ln",
        "log2",
        "log10",
        "sqrt",
        "day_of_week",
        "hour",
        "minute",
        "month",
        "year",
    ],
    "inf",
    "nan",
}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_LABEL_IN_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)")


def names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) used by ``expr``; Grafana ``$variables`` are ignored."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals carry values, not names
    labels: set[str] = set()
    for match in _MATCHERS.finditer(text):
        labels.update(_LABEL_IN_MATCHER.findall(match.group(1)))
    text = _MATCHERS.sub(" ", text)
    for match in _GROUPING.finditer(text):
        labels.update(n.strip() for n in match.group(2).split(",") if n.strip())
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    metrics = {m for m in _IDENT.findall(text) if m not in FUNCTIONS and not re.fullmatch(r"\d+\w*", m)}
    return metrics, labels
