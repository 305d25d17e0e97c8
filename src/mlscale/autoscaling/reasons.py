"""The autoscaler's reasons, said briefly: for a terminal's tables and the live view."""

from __future__ import annotations


def short_reason(reason: str | None) -> str | None:
    """Kubernetes' rescale reason with the metric named briefly, for an 80-column terminal:
    "cpu resource utilization (percentage of request) above target" -> "cpu above target",
    "external metric queue({}) above target" -> "queue above target", "All metrics below
    target" -> "below target". Conditions (ScaleUpLimit, ...) and failures stay as they are."""
    if reason is None:
        return None
    if reason == "All metrics below target":
        return "below target"
    if not reason.endswith(" above target"):
        return reason
    metric = reason.removesuffix(" above target")
    for prefix in ("pods metric ", "external metric "):
        metric = metric.removeprefix(prefix)
    metric = metric.split("(")[0].split(" resource")[0].split(" container")[0].split(" metric ")[-1]
    return f"{metric.strip()} above target"
