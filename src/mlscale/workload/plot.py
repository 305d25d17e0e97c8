"""``workload show --plot``: the rate as a figure; for a per-minute trace also its minute counts and
how one seed spreads them over seconds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlscale.workload.core import Arrival, Workload, step_counts


def draw(
    workload: Workload, counts: Sequence[int], out: Path, scale: float, arrival: Arrival, seed: int | None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = workload.times is None and workload.step_seconds > 1
    size = (11, 6.5 if minutes else 3.8)
    figure, axes = plt.subplots(2 if minutes else 1, 1, figsize=size, squeeze=False)
    top = axes[0][0]
    top.plot(range(len(counts)), counts, linewidth=0.7, color="#1f77b4")
    title = f"{workload.label}: requests in each second ({arrival.value} within each step)"
    top.set_title(title, loc="left", fontsize=10)
    top.set_xlabel("seconds from the start")
    top.set_ylabel("requests/s")
    if minutes:
        bottom = axes[1][0]
        per_step = step_counts(workload, scale=scale)
        step = workload.step_seconds
        starts = [i * step for i in range(len(per_step))]
        trace_label = f"requests in each {step:g} s step (the trace's)"
        bottom.bar(starts, per_step, width=step, align="edge", color="#ff7f0e", alpha=0.6, label=trace_label)
        regrouped = [sum(counts[round(i * step) : round((i + 1) * step)]) for i in range(len(per_step))]
        spread_label = "the spread seconds, summed back per step (equal: counts kept)"
        bottom.step(starts, regrouped, where="post", color="#1f77b4", linewidth=0.8, label=spread_label)
        bottom.set_xlabel("seconds from the start")
        bottom.set_ylabel("requests per step")
        bottom.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
