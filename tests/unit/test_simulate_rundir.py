"""A simulation written as a run directory reads back as a run: the report's statistics count
what the model did, and a comparison never takes it for a repeat of a measured run."""

from __future__ import annotations

from pathlib import Path

from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.policies.cpu import CPUPolicy
from mlscale.report.build import ReportOptions, statistics
from mlscale.report.compare_plots import run_label
from mlscale.report.load import load_run
from mlscale.report.policies import configuration_of
from mlscale.simulate import rundir
from mlscale.simulate.engine import DispatcherModel, ReplicaProfile, Simulation
from mlscale.workload import Workload, schedule


def test_a_simulated_run_reads_back_with_every_request_counted(tmp_path: Path) -> None:
    """30 s at 20 requests/s on one replica with room for 5 queued, 25 ms each: it serves 40/s, so
    all 600 are ok; then 60/s for 10 s with one forwarder: some are refused, and the statistics
    count ok + rejected = every request, as the model decided them."""
    rates = [20.0] * 30 + [60.0] * 10
    workload = Workload("w", tuple(rates))
    profile = ReplicaProfile((0.025,), 0.01, 1.0, request_milli=500)
    result = Simulation(rates, schedule(workload), profile, CPUPolicy(HPAConfig(max_replicas=1)),
                        dispatcher=DispatcherModel(max_queue=5, per_upstream=1)).run()  # fmt: skip
    meta = {"system": {"backend": "simulated", "policy": "cpu", "engine": "litert"},
            "workload": {"name": "w", "rates": rates, "unit": "rps"}}  # fmt: skip
    rundir.write(result, tmp_path, meta, 1_000_000.0, 500)
    run = load_run(tmp_path)
    stats = statistics(run, ReportOptions())
    counts = stats["counts"]
    refused = sum(o.name == "REJECTED" for o in result.outcome)
    assert refused > 0
    assert counts["ok"] == len(result.outcome) - refused
    assert counts.get("rejected", 0) == refused
    assert configuration_of(stats, with_engine=False) == "cpu · simulated"
    assert run_label("run 1", stats) == "run 1 (cpu, litert, simulated)"
