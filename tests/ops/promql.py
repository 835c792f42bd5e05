"""The metric names a PromQL expression reads (rules and dashboard panels), without a PromQL parser:
strings, label matchers, grouping clauses, ranges and offsets are removed, then every identifier
left that is not a function, keyword or Grafana variable is a metric name."""

from __future__ import annotations

import re

STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
RANGES = re.compile(r"\[[^\[\]]*\]|\boffset\s+-?[0-9a-z$_]+")
IDENT = re.compile(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    text = STRINGS.sub(" ", expr)
    text = MATCHERS.sub(" ", text)
    text = GROUPING.sub(" ", text)
    text = RANGES.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)   # Grafana variables ($__rate_interval, ${region})
    return {name for name, call in IDENT.findall(text) if not call and name.lower() not in KEYWORDS}
