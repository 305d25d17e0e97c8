"""The chart's Grafana dashboard as data: each panel's PromQL, to run against a real Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "helm" / "mlscale" / "dashboards" / "mlscale.json"


def panel_queries(path: Path = DASHBOARD) -> list[tuple[str, str]]:
    """(panel title, expression) for every query of every panel, rows' nested panels included."""
    dashboard = json.loads(path.read_text())
    queries = []
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            if target.get("expr"):
                queries.append((panel.get("title", "?"), target["expr"]))
    return queries
