"""What the chart's monitoring renders: ServiceMonitors that select one Service each, and the
chart's own Prometheus (monitoring.prometheus), whose scrape jobs are the operator's reading of
those ServiceMonitors. tests/cluster runs that Prometheus and reads its targets."""

from __future__ import annotations

from typing import Any

import yaml

from tests.chart.helm import render
from tests.chart.test_chart import by_kind, one

OPERATOR_API = ["monitoring.coreos.com/v1/ServiceMonitor"]
OWN_PROMETHEUS = ["--set", "monitoring.prometheus.enabled=true"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_each_service_monitor_selects_exactly_one_service() -> None:
    """The inference pods have two Services (one headless, for the dispatcher's own balancing): a
    monitor selecting both would scrape every pod twice and double the dashboard's counts."""
    documents = render([], api_versions=OPERATOR_API)
    services = by_kind(documents, "Service")
    for monitor in by_kind(documents, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        chosen = [s["metadata"]["name"] for s in services if selects(selector, s["metadata"]["labels"])]
        assert chosen == [monitor["metadata"]["name"]], (monitor["metadata"]["name"], chosen)


def prometheus_config(documents: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = one(documents, "ConfigMap", "prometheus")
    return yaml.safe_load(config_map["data"]["prometheus.yml"])  # type: ignore[no-any-return]


def test_the_charts_own_prometheus_scrapes_what_the_service_monitors_select() -> None:
    job = '{"job_name": "ksm", "static_configs": [{"targets": ["k:8080"]}]}'
    extra = f"--set-json=monitoring.prometheus.extraScrapeConfigs=[{job}]"
    documents = render([*OWN_PROMETHEUS, extra], raw_args=True, api_versions=OPERATOR_API)
    config = prometheus_config(documents)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = by_kind(documents, "Service")
    for monitor in by_kind(documents, "ServiceMonitor"):
        name = monitor["metadata"]["name"]
        (endpoint,) = monitor["spec"]["endpoints"]
        job = jobs.pop(f"serviceMonitor/default/{name}/0")  # as the operator names a monitor's job
        assert (job["metrics_path"], job["scrape_interval"]) == (endpoint["path"], endpoint["interval"])
        keep, port, *_ = job["relabel_configs"]
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert [
            label.removeprefix("__meta_kubernetes_service_label_") for label in keep["source_labels"]
        ] == [key.replace(".", "_").replace("/", "_") for key in selector]
        assert keep["regex"] == ";".join(selector.values())
        assert (port["source_labels"], port["regex"]) == (
            ["__meta_kubernetes_endpointslice_port_name"],
            endpoint["port"],
        )
        # its kept Service is the monitor's one, and the job is named after it, as the operator's
        kept = [
            s
            for s in services
            if ";".join(s["metadata"]["labels"].get(k, "") for k in selector) == keep["regex"]
        ]
        assert [s["metadata"]["name"] for s in kept] == [name]
        assert {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job"} in job[
            "relabel_configs"
        ]
    assert list(jobs) == ["ksm"]  # the extra job, and nothing else


def test_the_charts_own_prometheus_is_the_queue_triggers_server_and_may_scrape_the_pods() -> None:
    documents = render([*OWN_PROMETHEUS, "--set", "autoscaling.policy=queue"], raw_args=True)
    deployment = one(documents, "Deployment", "prometheus")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "quay.io/prometheus/prometheus:v3.16.0"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    service = one(documents, "Service", "prometheus")
    (trigger,) = one(documents, "ScaledObject")["spec"]["triggers"]
    port = service["spec"]["ports"][0]["port"]
    assert trigger["metadata"]["serverAddress"] == f"http://{service['metadata']['name']}.default.svc:{port}"
    # the NetworkPolicy's scrapers include it
    (policy,) = by_kind(documents, "NetworkPolicy")
    allowed = policy["spec"]["ingress"][1]["from"][0]["podSelector"]["matchLabels"]
    assert selects(allowed, pod["metadata"]["labels"])
    # its discovery reads this namespace only
    assert not by_kind(documents, "ClusterRole")
    assert one(documents, "Role", "prometheus")["rules"][0]["verbs"] == ["get", "list", "watch"]


def test_without_it_the_queue_trigger_asks_kube_prometheus_stacks_prometheus() -> None:
    documents = render(["--set", "autoscaling.policy=queue"], raw_args=True)
    assert not [d for d in documents if d["metadata"]["name"].endswith("-prometheus")]
    (trigger,) = one(documents, "ScaledObject")["spec"]["triggers"]
    assert trigger["metadata"]["serverAddress"] == "http://prometheus-operated.default.svc:9090"


def test_the_logs_option_ships_every_pods_log_to_victoria_logs() -> None:
    assert not [d for d in render([]) if d["metadata"]["name"].startswith("mlscale-logs")]  # off by default
    documents = render(["--set", "logs.victoriaLogs.enabled=true"], raw_args=True)
    store = one(documents, "Deployment", "logs")
    (server,) = store["spec"]["template"]["spec"]["containers"]
    assert server["image"] == "victoriametrics/victoria-logs:v1.52.2"
    service = one(documents, "Service", "logs")
    (agent,) = one(documents, "DaemonSet", "logs-agent")["spec"]["template"]["spec"]["containers"]
    port = service["spec"]["ports"][0]["port"]
    url = f"http://{service['metadata']['name']}.default.svc:{port}/insert/native"
    assert f"-remoteWrite.url={url}" in agent["args"]
    assert "-kubernetesCollector" in agent["args"]
    # it reads what the kubelet writes, and can change none of it
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in agent["volumeMounts"]}
    assert mounts == {"/var/log/pods": True, "/var/log/containers": True, "/agent-data": False}
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True
    assert agent["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    (rule,) = one(documents, "ClusterRole", "logs-agent")["rules"]
    assert (rule["resources"], rule["verbs"]) == (["pods", "nodes", "namespaces"], ["get", "list", "watch"])
