"""The simulator against real runs: calibrate on one run, simulate the others (the same workload,
load, arrivals and seed each had), and print each simulation's distance from its real run beside
the distance between two real runs of the same workload (the spread the simulator is judged by).

``python -m bench fidelity`` makes the real runs first: two of ``demo`` and two of ``spike`` on the
local backend (``mlscale compare --policies cpu --repeat 2``, about 20 minutes), calibrates on the
first demo. ``MLSCALE_FIDELITY_RUNS=CAL,RUN,...`` takes existing run directories instead: the
first calibrates, the rest are predicted, and runs of one workload are paired for the spread.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

from mlscale.report.load import Run, load_run
from mlscale.simulate import rundir, scenario
from mlscale.simulate.calibration import Calibration, calibrate
from mlscale.simulate.fidelity import Distance, distance
from mlscale.workload import CALIBRATION_KEYS, Arrival, Workload

WORKLOADS = ("demo", "spike")


def real_runs(root: Path) -> list[Path]:
    """Two real runs of each workload, by ``mlscale compare``; their run directories."""
    found = []
    for name in WORKLOADS:
        out = root / name
        subprocess.run(
            [
                str(Path(sys.executable).parent / "mlscale"),
                "compare",
                f"workloads/{name}.txt",
                "--policies",
                "cpu",
                "--repeat",
                "2",
                "--runs-dir",
                str(out),
            ],
            check=True,
        )
        found += sorted(p.parent for p in out.glob("compare-*/cpu-*/*/run.json"))
    return found


def simulated_like(target: Run, calibration: Calibration, root: Path) -> Run:
    """The target's workload, at the load it ran (its own capacity), arrivals and seed."""
    meta = target.meta
    spec = meta["workload"]
    options = meta.get("options") or {}
    workload = Workload(
        spec["name"], tuple(spec["rates"]), unit=options.get("unit") or spec.get("unit", "rps")
    )
    calibrated = dict((meta.get("system") or {}).get("calibration") or {})
    if options.get("requests_per_unit") and workload.unit in CALIBRATION_KEYS:
        calibrated[CALIBRATION_KEYS[workload.unit]] = options["requests_per_unit"]  # what the run sent
    chosen = scenario.build(
        workload,
        calibration,
        seed=int(options.get("random_seed") or 1),
        arrival=Arrival(options.get("arrival") or "uniform"),
        calibrated=calibrated,
        load_scale=float(options.get("scale") or 1.0),
    )
    began = time.perf_counter()
    result = chosen.simulation().run()
    wall = time.perf_counter() - began
    out = Path(tempfile.mkdtemp(dir=root))
    sim_meta = {
        "system": {**(meta.get("system") or {}), "backend": "simulated", "wall_seconds": wall},
        "workload": spec,
        "options": options,
    }
    rundir.write(result, out, sim_meta, target.start_at, calibration.profile.request_milli)
    return load_run(out)


def _row(label: str, d: Distance) -> str:
    first = "-" if d.first_scale_up_s is None else f"{d.first_scale_up_s:+.0f} s"
    worst = d.worst_p95_ratio()
    p95 = "; ".join(
        f"at {p['rps']:g}: {p['a_p95']:.0f}->{p['b_p95']:.0f}" for p in d.phases if p["a_p95"] and p["b_p95"]
    )
    return (
        f"| {label} | {d.same_replicas:.0%} | {first} | {'-' if worst is None else f'{worst:.2f}x'} | {p95} |"
    )


def main() -> None:
    given = os.environ.get("MLSCALE_FIDELITY_RUNS")
    root = Path(tempfile.mkdtemp(prefix="mlscale-fidelity-"))
    paths = [Path(p) for p in given.split(",")] if given else real_runs(root)
    runs = [load_run(p) for p in paths]
    calibration = calibrate(runs[0])
    print(
        f"calibrated on {paths[0]}: {calibration.sources['cpu']}, service median "
        f"{calibration.sources['service']['median_ms']} ms, "
        f"start-up {calibration.sources['startup']['seconds']} s"
    )
    print("| compared | same replicas | first scale-up | worst p95 ratio | p95 per load level, ms (a->b) |")
    print("|---|---|---|---|---|")
    for run in runs[1:]:
        name = run.meta["workload"]["name"]
        sim = simulated_like(run, calibration, root)
        print(_row(f"{name}: real {run.path.name} -> simulated", distance(run, sim)), flush=True)
    by_workload: dict[str, list[Run]] = {}
    for run in runs:
        by_workload.setdefault(run.meta["workload"]["name"], []).append(run)
    for name, same in by_workload.items():
        for a, b in combinations(same, 2):
            print(_row(f"{name}: real {a.path.name} -> real {b.path.name} (the spread)", distance(a, b)))
