"""helm install of helm/mlscale (monitoring subcharts off) on the real API server, then uninstall."""

from __future__ import annotations

import subprocess
import time

from kubernetes import client

from tests.chart.helm import SUBCHARTS_OFF, chart_copy, helm_binary
from tests.k8s.conftest import Cluster

NAMESPACE = "chart"


def helm(cluster: Cluster, *args: str) -> str:
    result = subprocess.run(
        [helm_binary(), *args, "--kubeconfig", str(cluster.testbed.kubeconfig), "--namespace", NAMESPACE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_helm_install_creates_what_was_rendered_and_uninstall_removes_it(cluster: Cluster) -> None:
    rendered = helm(
        cluster, "template", "mlscale", str(chart_copy()), *SUBCHARTS_OFF, "--set", "inference.weights=none"
    )
    kinds = sorted(line.split(": ")[1] for line in rendered.splitlines() if line.startswith("kind: "))
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Service",
        "Service",
        "Service",  # the inference pods' headless Service, which the dispatcher resolves
    ]

    installed = helm(
        cluster,
        "install",
        "mlscale",
        str(chart_copy()),
        "--create-namespace",
        *SUBCHARTS_OFF,
        "--set",
        "inference.weights=none",
        "--wait",
        "--timeout",
        "180s",
    )
    assert "STATUS: deployed" in installed
    assert "kubectl -n chart get hpa mlscale-inference --watch" in installed  # NOTES.txt rendered

    apps, core = client.AppsV1Api(cluster.api), client.CoreV1Api(cluster.api)
    deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment(NAMESPACE).items}
    assert sorted(deployments) == ["mlscale-dispatcher", "mlscale-inference"]
    assert all(d.status.ready_replicas == 1 for d in deployments.values())  # through the fake kubelet
    services = sorted(s.metadata.name for s in core.list_namespaced_service(NAMESPACE).items)
    assert services == ["mlscale-dispatcher", "mlscale-inference", "mlscale-inference-endpoints"]
    # The current release serves autoscaling/v2 (and no v2beta2): the chart's HPA is the v2 one.
    manifest = helm(cluster, "get", "manifest", "mlscale")
    assert "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler" in manifest
    hpa = client.CustomObjectsApi(cluster.api).get_namespaced_custom_object(
        "autoscaling", "v2", NAMESPACE, "horizontalpodautoscalers", "mlscale-inference"
    )["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 5)
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 30
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    policies = client.NetworkingV1Api(cluster.api).list_namespaced_network_policy(NAMESPACE).items
    assert [p.metadata.name for p in policies] == ["mlscale-inference"]

    helm(cluster, "uninstall", "mlscale", "--wait")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        apps.list_namespaced_deployment(NAMESPACE).items or core.list_namespaced_pod(NAMESPACE).items
    ):
        time.sleep(0.5)
    assert apps.list_namespaced_deployment(NAMESPACE).items == []
    assert core.list_namespaced_service(NAMESPACE).items == []
    assert core.list_namespaced_pod(NAMESPACE).items == []
    assert (
        client.AutoscalingV1Api(cluster.api).list_namespaced_horizontal_pod_autoscaler(NAMESPACE).items == []
    )
