"""What a search writes: every trial (trials.json), the trade-off (pareto.png) and the recommended
settings as a values file that ``mlscale up --values`` and ``helm install -f`` take unchanged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mlscale.report import plots
from mlscale.simulate.sweep import SweepPoint, pareto_figure
from mlscale.tune.search import Trial
from mlscale.tune.space import SLO, nested


def values_file(chosen: Trial, slo: SLO, workload: str) -> str:
    header = [
        f"# mlscale tune: the cheapest setting found for {workload} under {slo.text}",
        f"# (trial {chosen.number}, simulated: {chosen.summary.replica_seconds:,.0f} replica-seconds, "
        f"{chosen.slo_broken_seconds} seconds broke the SLO{'' if chosen.feasible else '; NOT within it'}).",
        "# Use it as it is: mlscale up --values FILE, or helm install -f FILE.",
    ]
    values = nested({"autoscaling.policy": chosen.policy, **chosen.setting})
    return "\n".join(header) + "\n" + yaml.safe_dump(values, sort_keys=False)


def write(out: Path, trials: Sequence[Trial], chosen: Trial, slo: SLO, context: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    points = [SweepPoint({"trial": t.number, "policy": t.policy}, t.summary, t.wall_seconds, t.on_front)
              for t in trials]  # fmt: skip
    title = f"{context['workload']}: {len(trials)} trials, simulated, under {slo.text}"
    figure = pareto_figure(points, title=title)
    figure_path = plots.save(figure, out / "pareto.png")
    record = {
        "simulated": True,
        **context,
        "slo": {"percentile": slo.percentile, "seconds": slo.seconds, "share": slo.share},
        "recommended": chosen.number,
        "trials": [
            {"number": t.number, "policy": t.policy, "setting": t.setting, "feasible": t.feasible,
             "on_front": t.on_front, "slo_broken_seconds": t.slo_broken_seconds,
             "wall_seconds": round(t.wall_seconds, 3), **t.summary.as_dict()}
            for t in trials
        ],
    }  # fmt: skip
    trials_path = out / "trials.json"
    trials_path.write_text(json.dumps(record, indent=2) + "\n")
    values_path = out / "recommended-values.yaml"
    values_path.write_text(values_file(chosen, slo, context["workload"]))
    return [values_path, figure_path, trials_path]
