"""How the simulator's wall time grows with the request rate and the replicas: one simulated hour
at 10 to 100,000 requests/s (``autoscaling.maxReplicas=1000``, the CPU HPA), by the fluid model at
every rate and by the per-request model up to 1,000 requests/s; where both run, their summaries
side by side. Calibrated from a litert demo measured on this project's machine
(``bench/data/calibration-litert-demo.json``; ``MLSCALE_SIM_CALIBRATION`` for another).

The baseline is the per-request model at 10 requests/s in the same run: each wall time is also
printed as simulated requests per wall second.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from mlscale.simulate import runner, scenario
from mlscale.simulate.calibration import Calibration
from mlscale.workload import load_workload

CALIBRATION = Path(__file__).parent / "data" / "calibration-litert-demo.json"
RATES = (10, 100, 1_000, 10_000, 100_000)
PER_REQUEST_UP_TO = 1_000
SECONDS = 3600


def hour_at(rate: int, root: Path) -> Path:
    """The issue's workload file: 3,600 lines of the rate."""
    path = root / f"hour-{rate}.txt"
    path.write_text(f"# {rate} requests/s for an hour\n" + f"{rate}\n" * SECONDS)
    return path


def main() -> None:
    source = Path(os.environ.get("MLSCALE_SIM_CALIBRATION", CALIBRATION))
    calibration = Calibration.from_dict(json.loads(source.read_text()))
    root = Path(tempfile.mkdtemp(prefix="mlscale-simscale-"))
    print(f"calibration: {source}")
    print(
        "| requests/s | requests | model | wall s | requests per wall s | max replicas | replica-s | "
        "p95 ms | refused |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for rate in RATES:
        workload = load_workload(hour_at(rate, root))
        chosen = scenario.build(
            workload,
            calibration,
            sets=["autoscaling.maxReplicas=1000"],
            max_arrivals=None if rate <= PER_REQUEST_UP_TO else 0,
        )
        models = [runner.Model.FLUID] + ([runner.Model.REQUESTS] if rate <= PER_REQUEST_UP_TO else [])
        for model in models:
            done = runner.run(chosen, model)
            s = done.summary
            print(
                f"| {rate:,} | {chosen.requests:,} | {model.value} | {done.wall_seconds:.1f} | "
                f"{chosen.requests / done.wall_seconds:,.0f} | {s.max_replicas} | {s.replica_seconds:,.0f} | "
                f"{s.latency_p95_ms:.1f} | {s.rejected + s.unfinished:,.0f} |",
                flush=True,
            )
