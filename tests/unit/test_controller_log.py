"""tests/k8s's reading of the HPA controller's log: each sync's decision and its time."""
# ruff: noqa: E501  (the log lines are the controller's, verbatim)

from __future__ import annotations

import datetime
from pathlib import Path

from tests.k8s.controller_log import decision_of_sync, decisions

LOG = """\
I1207 18:48:07.100000    6280 horizontal.go:958] "Proposing desired replicas" desiredReplicas=1 metric="cpu resource utilization (percentage of request)" tolerances="{0.1 0.1}" timestamp="2026-12-07 18:48:06 +0000 UTC" scaleTarget="Deployment/other/app"
I1207 18:48:07.200000    6280 horizontal.go:958] "Proposing desired replicas" desiredReplicas=3 metric="cpu resource utilization (percentage of request)" tolerances="{0.1 0.1}" timestamp="2026-12-07 18:48:06 +0000 UTC" scaleTarget="Deployment/ns/app"
I1207 18:48:07.250000    6280 horizontal.go:958] "Proposing desired replicas" desiredReplicas=5 metric="external metric queue(nil)" tolerances="{0.1 0.1}" timestamp="2026-12-07 18:48:06 +0000 UTC" scaleTarget="Deployment/ns/app"
I1207 18:48:07.300000    6280 horizontal.go:1032] "Successfully rescaled" HPA="ns/app" currentReplicas=1 desiredReplicas=5 reason="external metric queue(nil) above target"
I1207 18:48:07.310000    6280 horizontal.go:1568] "Successfully updated status" HPA="ns/app"
E1207 18:48:08.000000    6280 horizontal.go:212] "Unhandled Error" err="failed to compute desired number of replicas"
I1207 18:48:09.400000    6280 horizontal.go:958] "Proposing desired replicas" desiredReplicas=5 metric="cpu resource utilization (percentage of request)" tolerances="{0.1 0.1}" timestamp="2026-12-07 18:48:08 +0000 UTC" scaleTarget="Deployment/ns/app"
I1207 18:48:09.450000    6280 horizontal.go:1059] "Decided not to scale" scaleTarget="Deployment/ns/app" desiredReplicas=5 lastScaleTime="2026-12-07 18:48:07 +0000 UTC"
"""


def _at(stamp: str) -> float:
    return datetime.datetime.strptime(f"2026{stamp}", "%Y%m%d %H:%M:%S.%f").timestamp()


def test_each_decision_of_one_hpa_with_the_time_it_stabilized_and_the_time_it_scaled(tmp_path: Path) -> None:
    log = tmp_path / "kube-controller-manager.log"
    log.write_text(LOG)
    first, second = decisions(log, "ns", "app", year=2026)
    # The last proposal of the sync (one per metric) is the stabilization's now.
    assert (first.at, first.desired, first.rescaled) == (_at("1207 18:48:07.250000"), 5, True)
    assert first.logged_at == _at("1207 18:48:07.300000")  # the scale event's time
    assert (second.at, second.desired, second.rescaled) == (_at("1207 18:48:09.400000"), 5, False)
    assert decisions(log, "other", "app", year=2026) == []  # proposed, never decided: no decision


def test_a_sync_gets_the_decision_logged_between_its_request_and_the_next(tmp_path: Path) -> None:
    log = tmp_path / "kube-controller-manager.log"
    log.write_text(LOG)
    found = decisions(log, "ns", "app", year=2026)
    assert decision_of_sync(found, _at("1207 18:48:07.000000"), _at("1207 18:48:08.000000")) == found[0]
    assert decision_of_sync(found, _at("1207 18:48:07.500000"), _at("1207 18:48:09.000000")) is None
    assert decision_of_sync(found, _at("1207 18:48:09.000000"), None) == found[1]
