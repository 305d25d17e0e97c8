"""The cluster itself: a Ready node on the current release and containerd, the real metrics-server,
CoreDNS, and host changes held in check while it runs."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.cluster.host import KUBELET_TUNABLES, _sysctl_path, metadata_counters
from tests.cluster.node import NODE, OneNodeCluster
from tests.k8s.testbed import KUBERNETES


def test_the_node_is_ready_and_real(one_node: OneNodeCluster) -> None:
    node: Any = client.CoreV1Api(one_node.api).read_node(NODE)
    info = node.status.node_info
    print(f"\nnode: kubelet {info.kubelet_version}, runtime {info.container_runtime_version}, "
          f"kernel {info.kernel_version}")  # fmt: skip
    assert info.container_runtime_version.startswith("containerd://2.")
    assert info.kubelet_version == KUBERNETES
    assert int(node.status.allocatable["cpu"]) >= 1
    version = one_node.kubectl("version", "--output=json")
    assert f'"gitVersion": "{KUBERNETES}"' in version.split('"serverVersion"')[1], version


def test_kubectl_top_answers_from_the_real_metrics_server(one_node: OneNodeCluster) -> None:
    served: Any = client.ApiregistrationV1Api(one_node.api).read_api_service("v1beta1.metrics.k8s.io")
    assert served.spec.ca_bundle  # its own serving certificate, verified against the cluster's CA
    assert not served.spec.insecure_skip_tls_verify
    assert [c.status for c in served.status.conditions if c.type == "Available"] == ["True"]
    top = one_node.kubectl("top", "node", NODE, "--no-headers").split()
    assert top[0] == NODE, top
    assert top[1].endswith("m"), top  # CPU in millicores, as the kubelet measured it


def test_the_kubelets_sysctls_are_put_back_while_it_runs(one_node: OneNodeCluster) -> None:
    before = one_node.guard.snapshot.sysctls
    now = {name: _sysctl_path(name).read_text().strip() for name in KUBELET_TUNABLES if name in before}
    assert now == {name: before[name] for name in now}


def test_the_metadata_guard_stands_and_nothing_tried_it_so_far(one_node: OneNodeCluster) -> None:
    counters = metadata_counters()
    assert set(counters) == {"OUTPUT", "FORWARD"}, counters
    assert counters == {"OUTPUT": 0, "FORWARD": one_node.metadata_probes}, counters
