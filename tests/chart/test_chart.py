"""The Helm chart: lint, render, validate every document against Kubernetes 1.29-1.33, and assert
what matters (requests, HPA numbers equal to the `autoscaling:` values, probes, security).

The monitoring subcharts cannot be fetched here: the chart is tested from a copy whose
Chart.yaml lists no dependencies, with their `enabled` flags off (ServiceMonitors still render
when the operator's API is declared present).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlscale.autoscaling.config import load_hpa_config
from mlscale.locations import chart_dir, values_file
from tests.chart.helm import SUBCHARTS_OFF, helm, render

KUBERNETES_VERSIONS = ("1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0")
SCENARIOS = sorted(p.name for p in (chart_dir() / "ci").glob("*-values.yaml"))
CRD_KINDS = {"ServiceMonitor", "ScaledObject"}  # not in Kubernetes' own schemas (test_keda.py: KEDA's)


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


def one(documents: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    found = [
        d
        for d in by_kind(documents, kind)
        if component is None or d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, (kind, component, [d["metadata"]["name"] for d in found])
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


@pytest.mark.parametrize("scenario", [None, *SCENARIOS])
def test_helm_lint_passes(scenario: str | None) -> None:
    args = ["-f", str(chart_dir() / "ci" / scenario)] if scenario else []
    result = helm("lint", "--strict", *SUBCHARTS_OFF, *args)
    assert "0 chart(s) failed" in result, result


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("scenario", [None, *SCENARIOS])
def test_every_document_validates_strictly(scenario: str | None, version: str) -> None:
    values = [chart_dir() / "ci" / scenario] if scenario else []
    documents = render(values, kube_version=version, api_versions=["monitoring.coreos.com/v1/ServiceMonitor"])
    validated = 0
    for document in documents:
        if document["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(document, version, strict=True)
        validated += 1
    assert validated >= 5  # Deployments, Services, and the HPA at least
    if scenario == "monitoring-values.yaml":
        assert {"Secret", "ConfigMap"} <= {d["kind"] for d in documents}
        assert len(by_kind(documents, "ServiceMonitor")) == 2
    print(f"kubernetes {version} {scenario or 'default'}: {validated} documents valid (strict)")


def test_hpa_is_the_autoscaling_section_the_local_backend_reads() -> None:
    documents = render([])
    hpa = one(documents, "HorizontalPodAutoscaler")
    config = load_hpa_config(values_file())
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "mlscale-inference",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (config.min_replicas, config.max_replicas) == (1, 5)
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert config.target_cpu_utilization == 70
    behavior = spec["behavior"]
    assert (
        behavior["scaleUp"]["stabilizationWindowSeconds"]
        == config.scale_up.stabilization_window_seconds
        == 30
    )
    assert (
        behavior["scaleDown"]["stabilizationWindowSeconds"]
        == config.scale_down.stabilization_window_seconds
        == 60
    )
    assert [(p["type"], p["value"], p["periodSeconds"]) for p in behavior["scaleUp"]["policies"]] == [
        (p.type, p.value, p.period_seconds) for p in config.scale_up.policies
    ]
    values = yaml.safe_load(values_file().read_text())
    assert behavior == values["autoscaling"]["behavior"]


def test_older_clusters_get_autoscaling_v2beta2_with_the_same_behavior() -> None:
    old = one(render([], kube_version="1.20.2"), "HorizontalPodAutoscaler")
    new = one(render([]), "HorizontalPodAutoscaler")
    assert old["apiVersion"] == "autoscaling/v2beta2"
    assert old["spec"] == new["spec"]


def test_listed_metrics_render_as_written_and_read_back_the_same() -> None:
    """ci/metrics-values.yaml: five metric types and no behavior. The chart renders the list as
    written (v2 and the v2beta2 fallback alike, no behavior key) and the local controller reads the
    same list from the same file."""
    scenario = chart_dir() / "ci" / "metrics-values.yaml"
    listed = yaml.safe_load(scenario.read_text())["autoscaling"]["metrics"]
    new = one(render([scenario]), "HorizontalPodAutoscaler")
    old = one(render([scenario], kube_version="1.20.2"), "HorizontalPodAutoscaler")
    assert new["spec"]["metrics"] == listed
    assert old["spec"] == new["spec"]
    assert "behavior" not in new["spec"]
    config = load_hpa_config(scenario)
    assert [m.type for m in config.metrics] == [m["type"] for m in listed]
    assert not config.behavior
    names = ["cpu", "cpu", "mlscale_inference_in_flight", "mlscale_dispatcher_in_flight",
             "mlscale_dispatcher_queue_depth"]  # fmt: skip
    assert [m.name for m in config.metrics] == names


def test_inference_has_cpu_requests_probes_and_a_drain_that_fits_the_grace_period() -> None:
    documents = render([])
    values = yaml.safe_load(values_file().read_text())["inference"]
    deployment = one(documents, "Deployment", "inference")
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    pod = deployment["spec"]["template"]["spec"]
    app = container(deployment)
    assert app["resources"]["requests"]["cpu"] == values["resources"]["requests"]["cpu"] == "500m"
    assert app["resources"]["limits"]["cpu"]
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert app["startupProbe"]["periodSeconds"] * app["startupProbe"]["failureThreshold"] >= 120
    probes = values["probes"]  # one home for the chart and the local backend
    for kind in ("startup", "readiness", "liveness"):
        rendered = app[f"{kind}Probe"]
        assert rendered["httpGet"]["path"] == probes[kind]["path"]
        assert rendered["periodSeconds"] == probes[kind]["periodSeconds"]
        assert rendered["failureThreshold"] == probes[kind]["failureThreshold"]
    env = {e["name"]: e.get("value") for e in app["env"]}
    assert env["MLSCALE_INFERENCE_CPU"] == "500m"
    assert env["MLSCALE_INFERENCE_WEIGHTS"] == "imagenet"
    sleep = int(app["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > sleep + int(env["MLSCALE_INFERENCE_DRAIN_TIMEOUT"])


def inference_services(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the ClusterIP Service, the headless one)."""
    services = [d for d in by_kind(documents, "Service")
                if d["metadata"]["labels"].get("app.kubernetes.io/component")
                in ("inference", "inference-endpoints")]  # fmt: skip
    (clustered,) = [s for s in services if s["spec"].get("clusterIP") != "None"]
    (headless,) = [s for s in services if s["spec"].get("clusterIP") == "None"]
    return clustered, headless


def test_dispatcher_balances_over_the_ready_pods_and_reports_to_the_host() -> None:
    documents = render([])
    app = container(one(documents, "Deployment", "dispatcher"))
    env = {e["name"]: e.get("value") for e in app["env"]}
    clustered, headless = inference_services(documents)
    assert headless["spec"]["selector"] == clustered["spec"]["selector"]
    port = headless["spec"]["ports"][0]["port"]
    assert env["MLSCALE_DISPATCHER_DISCOVER"] == f"http://{headless['metadata']['name']}:{port}"
    assert "MLSCALE_DISPATCHER_UPSTREAMS" not in env
    assert "MLSCALE_DISPATCHER_CONCURRENCY" not in env
    assert env["MLSCALE_DISPATCHER_RESULT_URL"].startswith("http://host.minikube.internal:")
    assert one(documents, "Service", "dispatcher")["spec"]["type"] == "NodePort"
    assert "MLSCALE_DISPATCHER_RESULT_TOKEN" not in env
    assert not [d for d in by_kind(documents, "Secret") if d["metadata"]["name"].endswith("-result-token")]


def test_the_dispatchers_queued_images_fit_in_its_memory_limit() -> None:
    """The dispatcher reads the byte bound as the chart writes it, and it leaves room under the
    limit for the process and its buffers (a count bound alone let a pod be OOM-killed)."""
    from mlscale_dispatcher.config import byte_size

    app = container(one(render([]), "Deployment", "dispatcher"))
    env = {e["name"]: e.get("value") for e in app["env"]}
    queued = byte_size(env["MLSCALE_DISPATCHER_MAX_QUEUE_BYTES"])
    limit = byte_size(app["resources"]["limits"]["memory"])
    assert 0 < queued <= limit * 0.6, (queued, limit)


def test_the_engine_picks_the_image_and_reaches_the_replica() -> None:
    for engine, image in (("keras", "mlscale-inference:"), ("litert", "mlscale-inference-litert:"),
                          ("onnx", "mlscale-inference-onnx:")):  # fmt: skip
        app = container(one(render(["--set", f"inference.engine={engine}"], raw_args=True),
                            "Deployment", "inference"))  # fmt: skip
        env = {e["name"]: e.get("value") for e in app["env"]}
        assert app["image"].startswith(image), app["image"]
        assert env["MLSCALE_INFERENCE_ENGINE"] == engine
    with pytest.raises(AssertionError, match=r"inference\.engine must be keras, litert or onnx"):
        render(["--set", "inference.engine=tflite"], raw_args=True)


def test_balance_service_hands_the_balancing_to_kube_proxy_and_anything_else_is_refused() -> None:
    documents = render(["--set", "dispatcher.balance=service,dispatcher.concurrency=3"], raw_args=True)
    env = {e["name"]: e.get("value") for e in container(one(documents, "Deployment", "dispatcher"))["env"]}
    clustered, _ = inference_services(documents)
    port = clustered["spec"]["ports"][0]["port"]
    assert env["MLSCALE_DISPATCHER_UPSTREAMS"] == f"http://{clustered['metadata']['name']}:{port}"
    assert env["MLSCALE_DISPATCHER_CONCURRENCY"] == "3"
    assert "MLSCALE_DISPATCHER_DISCOVER" not in env
    with pytest.raises(AssertionError, match=r"dispatcher\.balance must be endpoints or service"):
        render(["--set", "dispatcher.balance=dns"], raw_args=True)


def test_the_result_token_reaches_the_dispatcher_from_a_secret(tmp_path: Path) -> None:
    secret_values = tmp_path / "secret.yaml"
    secret_values.write_text("dispatcher:\n  resultToken: s3cret-t0ken\n")
    documents = render([secret_values])
    app = container(one(documents, "Deployment", "dispatcher"))
    (entry,) = [e for e in app["env"] if e["name"] == "MLSCALE_DISPATCHER_RESULT_TOKEN"]
    reference = entry["valueFrom"]["secretKeyRef"]
    (secret,) = [d for d in by_kind(documents, "Secret") if d["metadata"]["name"] == reference["name"]]
    assert base64.b64decode(secret["data"][reference["key"]]) == b"s3cret-t0ken"
    assert "s3cret-t0ken" not in json.dumps(app)  # only the Secret holds it


@pytest.mark.parametrize("scenario", [None, *SCENARIOS])
def test_every_pod_runs_as_non_root_on_a_read_only_root(scenario: str | None) -> None:
    documents = render([chart_dir() / "ci" / scenario] if scenario else [])
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        app = container(deployment)
        assert app["securityContext"]["readOnlyRootFilesystem"] is True
        assert app["securityContext"]["allowPrivilegeEscalation"] is False
        assert app["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] == "prometheus":
            continue  # its own user (65534); its token for service discovery
        assert pod["securityContext"]["runAsUser"] == 10001  # the images' user
        assert pod["automountServiceAccountToken"] is False
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] != "logs":
            assert {"name": "tmp", "mountPath": "/tmp"} in app["volumeMounts"]


def test_only_the_dispatcher_and_prometheus_reach_inference() -> None:
    policy = one(render([]), "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "inference"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    dispatcher, metrics = policy["spec"]["ingress"]
    assert dispatcher["from"] == [
        {"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "mlscale", "app.kubernetes.io/instance": "mlscale",
            "app.kubernetes.io/component": "dispatcher"}}}
    ]  # fmt: skip
    assert metrics["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    assert not by_kind(render([chart_dir() / "ci" / "minimal-values.yaml"]), "NetworkPolicy")


def test_service_monitors_follow_the_operator() -> None:
    assert not by_kind(render([]), "ServiceMonitor")  # subcharts off, no operator API
    with_api = render([], api_versions=["monitoring.coreos.com/v1/ServiceMonitor"])
    monitors = by_kind(with_api, "ServiceMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == ["mlscale-dispatcher", "mlscale-inference"]
    assert all(
        m["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}] for m in monitors
    )


def test_the_dashboard_configmap_holds_every_panel() -> None:
    config_map = one(render([]), "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["mlscale.json"])
    titles = [p["title"] for p in dashboard["panels"]]
    for needed in ("replicas", "CPU", "queue", "outcome", "Latency", "Success"):
        assert any(needed.lower() in t.lower() for t in titles), (needed, titles)
    assert all(t["expr"] for p in dashboard["panels"] for t in p["targets"])


def test_grafana_gets_a_generated_password_not_admin() -> None:
    import base64

    documents = render(["--set", "kube-prometheus-stack.enabled=true"], raw_args=True)
    secret = one(documents, "Secret")
    password = base64.b64decode(secret["data"]["admin-password"]).decode()
    assert len(password) == 24
    assert password != "admin"
    again = base64.b64decode(one(render(["--set", "kube-prometheus-stack.enabled=true"], raw_args=True),
                                     "Secret")["data"]["admin-password"]).decode()  # fmt: skip
    assert again != password  # generated per install (kept across upgrades via lookup on a cluster)
    given = render(["--set", "kube-prometheus-stack.enabled=true,monitoring.grafanaAdmin.password=s3cret"],
                   raw_args=True)  # fmt: skip
    assert base64.b64decode(one(given, "Secret")["data"]["admin-password"]) == b"s3cret"


def test_the_registry_scenario_prefixes_images_and_pulls() -> None:
    documents = render([chart_dir() / "ci" / "registry-values.yaml"])
    images = sorted(container(d)["image"] for d in by_kind(documents, "Deployment"))
    assert images == [
        "registry.example.com/mlscale/mlscale-dispatcher:0.1.0-rc1",
        "registry.example.com/mlscale/mlscale-inference-litert:0.1.0-rc1",
    ]
    for deployment in by_kind(documents, "Deployment"):
        assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    default = sorted(container(d)["image"] for d in by_kind(render([]), "Deployment"))
    assert default == ["mlscale-dispatcher:0.1.0", "mlscale-inference-litert:0.1.0"]


def test_fixed_replicas_scenario_has_no_hpa() -> None:
    documents = render([chart_dir() / "ci" / "fixed-replicas-values.yaml"])
    assert not by_kind(documents, "HorizontalPodAutoscaler")
    assert one(documents, "Deployment", "inference")["spec"]["replicas"] == 3


def test_a_missing_cpu_request_is_refused_with_the_reason() -> None:
    with pytest.raises(AssertionError, match=r"requests\.cpu must be set"):
        render(["--set", "inference.resources.requests.cpu=null"], raw_args=True)


def test_subcharts_are_pinned_and_switchable() -> None:
    chart = yaml.safe_load((chart_dir() / "Chart.yaml").read_text())
    names = {d["name"]: d for d in chart["dependencies"]}
    assert set(names) == {"kube-prometheus-stack", "loki", "promtail", "keda"}
    for name, dependency in names.items():
        assert all(part.isdigit() for part in dependency["version"].split(".")), dependency  # exact, no range
        assert dependency["condition"] == f"{name}.enabled"
    values = yaml.safe_load(values_file().read_text())
    assert all(values[name]["enabled"] is True for name in names if name != "keda")  # monitoring on
    assert values["keda"]["enabled"] is False  # only the queue policy needs it


def test_every_values_key_is_documented() -> None:
    """Each key holding a value has a comment directly above it or above one of its ancestors."""
    lines = [line for line in values_file().read_text().splitlines() if line.strip()]
    undocumented = []
    open_keys: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(("#", "- ")):
            continue
        indent = len(line) - len(line.lstrip())
        while open_keys and open_keys[-1][0] >= indent:
            open_keys.pop()
        documented = lines[number - 1].strip().startswith("#") or any(d for _, d in open_keys)
        key, _, inline = stripped.partition(":")
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        holds_value = bool(inline.strip()) or following.startswith("- ")
        if holds_value and not documented:
            undocumented.append(key)
        open_keys.append((indent, documented))
    assert undocumented == []
