"""The same workload on the local backend, after the cluster's release is gone: the embedded
backend against Kubernetes itself, on the same machine at the same requests per second."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cluster.runs import COMPARISON, PHASES, hop_table, latest_run, mlscale, summarize, workload_file
from tests.k8s.testbed import free_port


def test_the_same_workload_on_the_local_backend(tmp_path: Path) -> None:
    cluster = COMPARISON.get("kubernetes")
    if cluster is None:
        pytest.skip("the kubernetes run did not complete")
    port = free_port()
    env = {**os.environ, "MLSCALE_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "160"}
    mlscale(env, "up", "--max-replicas", "3", "--dispatcher-port", str(free_port()),
            "--result-url", f"http://127.0.0.1:{port}/storeLatency", timeout=600)  # fmt: skip
    try:
        workload = workload_file(tmp_path / "scale.txt", PHASES, unit="replicas")
        capacity = f"{cluster['capacity']:.3f}"
        mlscale(env, "loadtest", str(workload), "--listen", f"127.0.0.1:{port}", "--no-live",
                "--capacity", capacity, "--runs-dir", str(tmp_path / "runs"), timeout=900)  # fmt: skip
    finally:
        mlscale(env, "down", timeout=300)
    local = summarize(latest_run(tmp_path / "runs"))
    COMPARISON["local"] = local
    print("\nthe same workload, two backends (replicas sampled every HPA sync of 15 s):")
    for name in ("kubernetes", "local"):
        row = COMPARISON[name]
        print(f"  {name:>10}: replicas {row['replicas_per_sync']}, first scale-up at "
              f"{row['first_scale_up_s']} s, p95 {row['p95_ms']} ms, {row['counts']}")  # fmt: skip
    print("where the time goes, hop by hop:\n" + hop_table(COMPARISON))
    assert local["requests"] == cluster["requests"]
    assert {k: n for k, n in local["counts"].items() if n} == {"ok": local["requests"]}, local["counts"]
    assert max(local["desired"], default=1) >= 2, local
