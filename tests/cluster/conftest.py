"""One real one-node cluster for the whole cluster session (``nox -s cluster``; prepare.sh builds it)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from tests.cluster.addons import (
    PROMETHEUS,
    VICTORIA_LOGS,
    VLAGENT,
    install_keda,
    install_kube_state_metrics,
    ship_image,
)
from tests.cluster.host import Snapshot, differences
from tests.cluster.node import OneNodeCluster, binaries_missing


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so a stopped CI run still tears the cluster down


@pytest.fixture(scope="session")
def one_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OneNodeCluster]:
    missing = binaries_missing()
    reason = (
        f"missing {', '.join(missing)}: run tests/cluster/prepare.sh"
        if missing
        else "the cluster needs root (dockerd, the kubelet, iptables)"
        if os.geteuid() != 0
        else ""
    )
    if reason:
        if os.environ.get("MLSCALE_REQUIRE_TOOLS"):
            pytest.fail(reason)
        pytest.skip(reason)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    cluster = OneNodeCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        print(f"\ncluster up: {cluster.timings}")
        if cluster.leftovers:
            print(f"cleaned up after an earlier run that was killed: {cluster.leftovers}")
        yield cluster
    finally:
        problems = cluster.stop()
        signal.signal(signal.SIGTERM, previous)
    assert not problems, f"the host was not put back: {problems}"
    # The guard stood from before the first program started until the last had stopped, and
    # refused nothing but what a test sent on purpose: nothing probed a metadata address.
    refused = cluster.metadata_refused
    assert set(refused) == {"OUTPUT", "FORWARD"}, f"a metadata guard rule went missing: {refused}"
    assert refused == {"OUTPUT": 0, "FORWARD": cluster.metadata_probes}, refused
    print(f"metadata guard: refused {refused} (the test's own probes: {cluster.metadata_probes})")
    left = differences(cluster.guard.snapshot, Snapshot.take())
    assert not left, f"the host differs from before the cluster: {left}"
    print(f"host as before the cluster: {len(cluster.guard.snapshot.sysctls)} sysctls, iptables, devices, "
          "cgroups, paths")  # fmt: skip


@pytest.fixture(scope="session")
def addons(one_node: OneNodeCluster, tmp_path_factory: pytest.TempPathFactory) -> OneNodeCluster:
    """The node with what a user's cluster runs beside mlscale: kube-state-metrics and KEDA (each
    from its upstream manifests), and the images of the chart's own Prometheus and logs option."""
    began = time.monotonic()
    for image in (PROMETHEUS, VICTORIA_LOGS, VLAGENT):
        ship_image(one_node, image)
    install_kube_state_metrics(one_node)
    install_keda(one_node, tmp_path_factory.mktemp("addons"))
    print(f"\nadd-ons (images, kube-state-metrics, KEDA) ready in {time.monotonic() - began:.0f} s")
    return one_node
