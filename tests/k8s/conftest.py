"""One real control plane for the whole k8s session (``nox -s k8s``; tests/k8s/prepare.sh builds it)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client, config

from tests.k8s.kubelet import FakeKubelet
from tests.k8s.metrics import FakeMetricsServer
from tests.k8s.testbed import BIN, Testbed, binaries_present


@dataclass
class Cluster:
    testbed: Testbed
    api: client.ApiClient
    kubelet: FakeKubelet
    metrics: FakeMetricsServer


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not binaries_present():
        message = f"no kube-apiserver/kube-controller-manager in {BIN}, or no etcd: run tests/k8s/prepare.sh"
        if os.environ.get("MLSCALE_REQUIRE_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    testbed = Testbed(tmp_path_factory.mktemp("testbed"), hpa_sync_seconds=2)
    with contextlib.ExitStack() as stack:
        stack.callback(testbed.stop)
        testbed.start()
        api = config.new_client_from_config(str(testbed.kubeconfig))
        kubelet = FakeKubelet(api).start()
        stack.callback(kubelet.stop)
        metrics = FakeMetricsServer(api, testbed.workdir / "pki").start()
        stack.callback(metrics.stop)
        print(f"testbed: etcd, kube-apiserver, kube-controller-manager up in {testbed.started_in:.1f} s")
        yield Cluster(testbed, api, kubelet, metrics)
