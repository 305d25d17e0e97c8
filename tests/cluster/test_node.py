"""The cluster itself: a Ready node whose host changes are held in check while it runs."""

from __future__ import annotations

import subprocess
from typing import Any

from kubernetes import client

from tests.cluster.host import KUBELET_TUNABLES, METADATA_CIDR, _sysctl_path
from tests.cluster.node import NODE, OneNodeCluster


def test_the_node_is_ready_and_real(one_node: OneNodeCluster) -> None:
    node: Any = client.CoreV1Api(one_node.api).read_node(NODE)
    assert node.status.node_info.container_runtime_version.startswith("docker://")
    assert node.status.node_info.kubelet_version == "v1.20.2"
    assert int(node.status.allocatable["cpu"]) >= 1


def test_the_kubelets_sysctls_are_put_back_while_it_runs(one_node: OneNodeCluster) -> None:
    before = one_node.guard.snapshot.sysctls
    now = {name: _sysctl_path(name).read_text().strip() for name in KUBELET_TUNABLES if name in before}
    assert now == {name: before[name] for name in now}


def test_the_metadata_address_is_refused_and_nothing_tried_it(one_node: OneNodeCluster) -> None:
    listed = subprocess.run(
        ["iptables", "-L", "OUTPUT", "-v", "-n", "-x"], capture_output=True, text=True, check=True
    ).stdout
    (rule,) = [line for line in listed.splitlines() if METADATA_CIDR in line and "REJECT" in line]
    packets = int(rule.split()[0])
    assert packets == 0, f"{packets} packets to {METADATA_CIDR} were refused: something probed it"
