"""The kubernetes backend's logic against a fake of its adapters: preflight, the build -> load ->
install -> reach sequence, status assembly, decisions from the HPA's events, and down."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlscale.backends.base import SystemStatus, cpu_millicores
from mlscale.backends.kubernetes.adapters import PodInfo
from mlscale.backends.kubernetes.backend import KubernetesBackend
from mlscale.backends.kubernetes.options import KubernetesOptions
from mlscale.backends.kubernetes.preflight import PreflightPlan, preflight
from mlscale.backends.state import read_state, write_state
from mlscale.errors import AdapterError, InputError, PreflightError
from mlscale.locations import chart_dir
from tests.kube_fakes import FakeAdapters, UnexpectedCall, healthy_minikube, tools

MINIKUBE = PreflightPlan(build=True, minikube=True, port_forward=False)
ABOVE_TARGET = "cpu resource utilization (percentage of request) above target"  # the HPA's own words


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSCALE_STATE_DIR", str(tmp_path / "state"))


def checks(problems: Sequence[Any]) -> list[str]:
    return [p.check for p in problems]


# --- preflight ----------------------------------------------------------------------------------


def test_a_healthy_minikube_passes_preflight() -> None:
    assert preflight(healthy_minikube(), MINIKUBE) == []


def test_a_bare_machine_lists_every_missing_piece_and_how_to_get_it() -> None:
    bare = FakeAdapters(which=tools(), docker_ping=AdapterError("docker is not reachable: no socket"))
    problems = preflight(bare, MINIKUBE)
    assert checks(problems) == ["docker", "helm", "minikube"]
    assert "systemctl start docker" in problems[0].fix
    assert "helm" in problems[1].fix
    assert "minikube start --memory=8192 --cpus=4" in problems[2].fix
    assert not bare.called("cluster_version")  # no cluster to ask


def test_a_stopped_minikube_says_to_start_it() -> None:
    stopped = healthy_minikube(minikube_status={"Host": "Stopped", "APIServer": "Stopped"})
    (problem,) = preflight(stopped, MINIKUBE)
    assert problem.check == "minikube running"
    assert problem.fix == "minikube start --memory=8192 --cpus=4"


def test_a_small_minikube_and_no_metrics_server_are_both_reported() -> None:
    small = healthy_minikube(minikube_resources=(2048, 2), minikube_addons={"metrics-server": False},
                             metrics_api_ok=False)  # fmt: skip
    problems = preflight(small, MINIKUBE)
    assert checks(problems) == ["minikube size", "metrics-server addon", "metrics API"]
    assert "2048 MB and 2 CPUs" in problems[0].detail
    assert problems[1].fix == "minikube addons enable metrics-server"


def test_an_unreachable_context_is_reported_with_the_fix() -> None:
    unreachable = healthy_minikube(cluster_version=AdapterError("no usable kubeconfig: no such file"))
    (problem,) = preflight(unreachable, MINIKUBE)
    assert problem.check == "kube context"
    assert "kubectl config current-context" in problem.fix


def test_another_cluster_needs_kubectl_not_minikube_and_skip_build_needs_no_docker() -> None:
    other = FakeAdapters(which=tools("helm"), cluster_version="v1.30.0", metrics_api_ok=True)
    problems = preflight(other, PreflightPlan(build=False, minikube=False, port_forward=True))
    assert checks(problems) == ["kubectl"]
    assert not other.called("docker_ping")


def test_preflight_error_is_exit_2_with_every_problem() -> None:
    error = PreflightError(preflight(FakeAdapters(which=tools(), docker_ping=AdapterError("down")), MINIKUBE))
    assert error.exit_code == 2
    assert "3 problem(s), nothing was changed" in str(error)
    assert "fix: install minikube" in str(error)


# --- up -----------------------------------------------------------------------------------------


def rollout(*answers: tuple[int, int]) -> Any:
    """deployment_status answers in turn (the last repeats)."""
    queue = list(answers)
    return lambda name, namespace: queue.pop(0) if len(queue) > 1 else queue[0]


def watching(**overrides: Any) -> dict[str, Any]:
    """Answers for status(): an HPA at 2 of 1-5, two pods, their CPU, Grafana's Secret, two rescales."""
    answers: dict[str, Any] = {
        "hpa": {
            "spec": {
                "minReplicas": 1,
                "maxReplicas": 5,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 70}}}
                ],
            },
            "status": {
                "currentReplicas": 2,
                "desiredReplicas": 3,
                "conditions": [{"type": "AbleToScale", "status": "True"}],
            },
        },
        "pods": [
            PodInfo("mlscale-inference-a", "10.0.0.5", True, False, 500.0, "2026-11-27T10:00:00Z"),
            PodInfo("mlscale-inference-b", "10.0.0.6", False, True, 500.0, "2026-11-27T10:01:00Z"),
        ],
        "pod_cpu_milli": {"mlscale-inference-a": 350.0},
        "secret": {"admin-user": "admin", "admin-password": "Zx9-generated"},
        "hpa_events": [
            {
                "at": 1_800_000_100.0,
                "reason": "SuccessfulRescale",
                "message": f"New size: 3; reason: {ABOVE_TARGET}",
            },
            {
                "at": 1_800_000_000.0,
                "reason": "SuccessfulRescale",
                "message": f"New size: 2; reason: {ABOVE_TARGET}",
            },
            {"at": 1_800_000_050.0, "reason": "FailedGetResourceMetric", "message": "no metrics returned"},
        ],
    }
    answers.update(overrides)
    return answers


def test_up_on_minikube_builds_loads_installs_waits_and_reaches_the_dispatcher() -> None:
    adapters = healthy_minikube(
        docker_build=None, minikube_image_load=None, helm_dependency_build=None, helm_upgrade_install=None,
        deployment_status=rollout((0, 1), (1, 1)),
        minikube_service_url="http://192.168.49.2:30080\n", **watching(),
    )  # fmt: skip
    options = KubernetesOptions(weights="none", set_values={"autoscaling.maxReplicas": "4"})
    status = KubernetesBackend(options, adapters, sleep=lambda _: None).up()

    order = [name for name, _ in adapters.calls if name in (
        "docker_build", "minikube_image_load", "helm_dependency_build", "helm_upgrade_install",
        "minikube_service_url")]  # fmt: skip
    assert order == ["docker_build", "docker_build", "minikube_image_load", "minikube_image_load",
                     "helm_dependency_build", "helm_upgrade_install", "minikube_service_url"]  # fmt: skip
    builds = adapters.called("docker_build")
    # Both from services/, which also holds mlscale-http, and each its own Dockerfile there.
    assert [(Path(c).name, file, tag, args, target) for c, file, tag, args, target in builds] == [
        ("services", "dispatcher/Dockerfile", "mlscale-dispatcher:0.1.0", {}, None),
        # weights none: no download; engine keras: the Dockerfile's keras stage
        ("services", "inference/Dockerfile", "mlscale-inference:0.1.0",
         {"FETCH_WEIGHTS": "0", "ENGINE": "keras"}, "keras"),
    ]  # fmt: skip
    for context, dockerfile, *_ in builds:
        assert (Path(context) / dockerfile).is_file()
        assert (Path(context) / "http" / "pyproject.toml").is_file()
    ((release, chart, namespace, files, values, _),) = adapters.called("helm_upgrade_install")
    assert (release, chart, namespace) == ("mlscale", chart_dir(), "mlscale")
    # The result token reaches the chart through a 0600 values file, never helm's command line.
    (secret,) = files
    assert secret.stat().st_mode & 0o777 == 0o600
    token = (secret.parent / "result-token").read_text()
    assert yaml.safe_load(secret.read_text()) == {"dispatcher": {"resultToken": token}}
    assert token not in " ".join(values.values())
    assert values["image.tag"] == "0.1.0"
    assert values["inference.weights"] == "none"
    assert values["inference.engine"] == "keras"
    assert values["kube-prometheus-stack.enabled"] == "true"
    assert values["autoscaling.maxReplicas"] == "4"
    assert "image.registry" not in values
    assert len(adapters.called("deployment_status")) == 3  # dispatcher 0/1, then 1/1; inference 1/1
    assert read_state() == {"backend": "kubernetes", "namespace": "mlscale", "release": "mlscale",
                            "context": None, "minikube": True, "dispatcher_url": "http://192.168.49.2:30080",
                            "port_forward_pid": None, "engine": "keras", "monitoring": "stack",
                            "policy": "cpu"}  # fmt: skip
    assert status.dispatcher_url == "http://192.168.49.2:30080"


def test_a_fast_engine_builds_and_runs_the_image_without_tensorflow() -> None:
    adapters = healthy_minikube(
        docker_build=None, minikube_image_load=None, helm_dependency_build=None, helm_upgrade_install=None,
        deployment_status=(1, 1), minikube_service_url="http://192.168.49.2:30080", **watching(),
    )  # fmt: skip
    KubernetesBackend(KubernetesOptions(engine="litert"), adapters, sleep=lambda _: None).up()
    (_, (_, _, tag, args, target)) = adapters.called("docker_build")
    assert (tag, target, args["ENGINE"]) == ("mlscale-inference-litert:0.1.0", "fast", "litert")
    assert ("minikube_image_load", ("mlscale-inference-litert:0.1.0",)) in adapters.calls
    ((_, _, _, _, values, _),) = adapters.called("helm_upgrade_install")
    assert values["inference.engine"] == "litert"


def test_skip_build_and_skip_load_touch_no_docker_and_no_image_load() -> None:
    adapters = healthy_minikube(
        docker_ping=UnexpectedCall("docker_ping"), helm_upgrade_install=None, deployment_status=(1, 1),
        minikube_service_url="http://192.168.49.2:30080", **watching(),
    )  # fmt: skip
    options = KubernetesOptions(build=False, load=False, monitoring="off")
    KubernetesBackend(options, adapters, sleep=lambda _: None).up()
    touched = {name for name, _ in adapters.calls}
    assert not touched & {
        "docker_ping",
        "docker_build",
        "docker_push",
        "minikube_image_load",
        "helm_dependency_build",
    }
    ((_, chart, _, _, values, _),) = adapters.called("helm_upgrade_install")
    assert values["kube-prometheus-stack.enabled"] == values["loki.enabled"] == "false"
    manifest = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert chart != chart_dir()  # a copy that declares no subcharts: helm would refuse the missing ones
    assert "dependencies" not in manifest
    assert (chart / "templates" / "hpa.yaml").read_text() == (
        chart_dir() / "templates" / "hpa.yaml"
    ).read_text()


def test_another_cluster_pushes_to_the_registry_and_port_forwards() -> None:
    adapters = FakeAdapters(
        which=tools("helm", "kubectl"), docker_ping=None, cluster_version="v1.31.0", metrics_api_ok=True,
        docker_build=None, docker_push=None, helm_dependency_build=None, helm_upgrade_install=None,
        deployment_status=(1, 1), port_forward=4242, **watching(),
    )  # fmt: skip
    options = KubernetesOptions(
        minikube=False, registry="registry.example.com/team/", result_url="http://10.1.2.3:3003/storeLatency"
    )
    status = KubernetesBackend(options, adapters, sleep=lambda _: None).up()
    assert [tag for (tag,) in adapters.called("docker_push")] == [
        "registry.example.com/team/mlscale-dispatcher:0.1.0",
        "registry.example.com/team/mlscale-inference:0.1.0",
    ]
    ((*_, values, _),) = adapters.called("helm_upgrade_install")
    assert values["image.registry"] == "registry.example.com/team/"
    assert values["dispatcher.resultUrl"] == "http://10.1.2.3:3003/storeLatency"
    assert values["dispatcher.service.type"] == "ClusterIP"
    ((service, namespace, local_port, remote_port),) = adapters.called("port_forward")
    assert (service, namespace, remote_port) == ("mlscale-dispatcher", "mlscale", 8000)
    assert status.dispatcher_url == f"http://127.0.0.1:{local_port}"
    assert read_state()["port_forward_pid"] == 4242  # type: ignore[index]


def test_a_containerd_node_gets_the_images_imported_into_its_k8s_io_namespace() -> None:
    socket = "/run/containerd/containerd.sock"
    adapters = FakeAdapters(
        which=tools("helm", "kubectl", "ctr"), docker_ping=None, cluster_version="v1.37.2",
        metrics_api_ok=True, containerd_version="2.4.2", docker_build=None, containerd_import=None,
        helm_upgrade_install=None,
        deployment_status=(1, 1), port_forward=4242, **watching(),
    )  # fmt: skip
    options = KubernetesOptions(minikube=False, containerd=socket, monitoring="off", engine="litert")
    KubernetesBackend(options, adapters, sleep=lambda _: None).up()
    assert adapters.called("containerd_version") == [(socket,)]  # checked before anything was built
    assert adapters.called("containerd_import") == [
        ("mlscale-dispatcher:0.1.0", socket),
        ("mlscale-inference-litert:0.1.0", socket),
    ]
    order = [name for name, _ in adapters.calls if name in ("containerd_version", "docker_build",
             "containerd_import", "helm_upgrade_install")]  # fmt: skip
    assert order == ["containerd_version", "docker_build", "docker_build", "containerd_import",
                     "containerd_import", "helm_upgrade_install"]  # fmt: skip
    ((*_, values, _),) = adapters.called("helm_upgrade_install")
    assert "image.registry" not in values  # the node has them: IfNotPresent finds them there


def test_a_containerd_socket_that_does_not_answer_fails_the_preflight_with_the_fix() -> None:
    adapters = FakeAdapters(
        which=tools("helm", "kubectl", "ctr"), docker_ping=None, cluster_version="v1.37.2",
        metrics_api_ok=True,
        containerd_version=AdapterError("`ctr --address /nope version` failed: connection refused"),
    )  # fmt: skip
    options = KubernetesOptions(minikube=False, containerd="/nope")
    with pytest.raises(PreflightError) as caught:
        KubernetesBackend(options, adapters).up()
    assert checks(caught.value.problems) == ["containerd"]
    (problem,) = caught.value.problems
    assert "connection refused" in problem.describe()
    assert "k3s" in problem.describe()  # the fix names where the usual sockets are
    no_ctr = FakeAdapters(which=tools("helm", "kubectl"), docker_ping=None, cluster_version="v1.37.2",
                          metrics_api_ok=True)  # fmt: skip
    with pytest.raises(PreflightError) as caught:
        KubernetesBackend(options, no_ctr).up()
    assert checks(caught.value.problems) == ["ctr"]


@pytest.mark.parametrize(
    ("choice", "said"),
    [({"registry": "r.example.com", "minikube": False}, "--registry"), ({"minikube": True}, "--no-minikube")],
)
def test_containerd_import_is_refused_beside_a_registry_or_minikube(
    choice: dict[str, Any], said: str
) -> None:
    with pytest.raises(InputError, match=said):
        KubernetesOptions(containerd="/run/containerd/containerd.sock", **choice)


def test_node_port_exposes_the_dispatcher_at_a_nodes_port_without_kubectl() -> None:
    adapters = FakeAdapters(
        which=tools("helm"), docker_ping=None, cluster_version="v1.37.2", metrics_api_ok=True,
        helm_upgrade_install=None, deployment_status=(1, 1), node_port_url="http://10.244.0.1:31234",
        **watching(),
    )  # fmt: skip
    options = KubernetesOptions(minikube=False, build=False, load=False, monitoring="off", expose="node-port")
    status = KubernetesBackend(options, adapters, sleep=lambda _: None).up()
    ((*_, values, _),) = adapters.called("helm_upgrade_install")
    assert values["dispatcher.service.type"] == "NodePort"
    assert adapters.called("node_port_url") == [("mlscale-dispatcher", "mlscale")]
    assert status.dispatcher_url == "http://10.244.0.1:31234"
    assert read_state()["port_forward_pid"] is None  # type: ignore[index]
    with pytest.raises(InputError, match="--expose takes port-forward or node-port"):
        KubernetesOptions(expose="ingress")


def test_a_failed_preflight_changes_nothing() -> None:
    adapters = FakeAdapters(which=tools("helm"), docker_ping=AdapterError("docker is not reachable"))
    with pytest.raises(PreflightError) as caught:
        KubernetesBackend(KubernetesOptions(), adapters).up()
    assert checks(caught.value.problems) == ["docker", "minikube"]
    assert {name for name, _ in adapters.calls} == {"which", "docker_ping"}
    assert read_state() is None


def test_a_rollout_that_never_finishes_times_out_with_the_counts() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    adapters = healthy_minikube(helm_upgrade_install=None, deployment_status=(0, 1))
    options = KubernetesOptions(build=False, load=False, monitoring="off", timeout_s=10)
    with pytest.raises(Exception, match=r"dispatcher was not ready after 10 s \(0/1\)"):
        KubernetesBackend(options, adapters, clock=lambda: now[0], sleep=sleep).up()


def test_up_refuses_when_a_system_is_up() -> None:
    write_state({"backend": "local", "dispatcher_url": "http://127.0.0.1:8000"})
    with pytest.raises(Exception, match="already up"):
        KubernetesBackend(KubernetesOptions(), FakeAdapters()).up()


# --- watching and down ----------------------------------------------------------------------------


def up_state(**extra: Any) -> None:
    write_state({"backend": "kubernetes", "namespace": "exp", "release": "mlscale", "context": None,
                 "minikube": True, "dispatcher_url": "http://192.168.49.2:30080", "port_forward_pid": None,
                 **extra})  # fmt: skip


def test_status_reads_the_hpa_pods_metrics_and_grafanas_password() -> None:
    up_state()
    adapters = FakeAdapters(**watching())
    status = KubernetesBackend(None, adapters).status()
    assert (status.desired_replicas, status.min_replicas, status.max_replicas) == (3, 1, 5)
    assert status.target_cpu_utilization == 70
    first, second = status.replicas
    assert (first.ready, first.cpu_milli, first.cpu_utilization) == (True, 350.0, 70.0)
    assert first.url == "http://10.0.0.5:8001"
    assert (second.terminating, second.cpu_utilization) == (True, None)  # no metrics yet
    assert status.ready_replicas == 1
    assert status.cluster is not None
    dashboard = status.cluster.dashboard
    assert dashboard is not None
    assert (dashboard.user, dashboard.password) == ("admin", "Zx9-generated")
    assert dashboard.reach == "kubectl -n exp port-forward svc/mlscale-grafana 3000:80"
    assert status.cluster.conditions == {"AbleToScale": "True"}
    assert SystemStatus.from_json(status.to_json()) == status  # what `status --json` prints reads back
    selector = "app.kubernetes.io/instance=mlscale,app.kubernetes.io/component=inference"
    assert adapters.called("pods") == [("exp", selector)]
    assert len(adapters.called("hpa")) == 1  # read once, for the status and its last decision


def test_decisions_are_the_hpas_rescale_events_in_order() -> None:
    up_state()
    decisions = KubernetesBackend(None, FakeAdapters(**watching())).decisions()
    assert [(d["current"], d["desired"]) for d in decisions] == [(1, 2), (2, 3)]
    assert decisions[0]["at"] == 1_800_000_000.0
    assert decisions[0]["reason"].startswith("cpu resource utilization")


def test_down_uninstalls_stops_the_port_forward_and_optionally_deletes_minikube() -> None:
    up_state(port_forward_pid=4242)
    adapters = FakeAdapters(helm_uninstall=None, stop_process=None, minikube_delete=None)
    KubernetesBackend(None, adapters).down(delete_cluster=True)
    assert adapters.called("helm_uninstall") == [("mlscale", "exp")]
    assert adapters.called("stop_process") == [(4242,)]
    assert adapters.called("minikube_delete") == [()]
    assert read_state() is None


def test_down_without_a_system_says_so() -> None:
    with pytest.raises(Exception, match="no kubernetes system is up"):
        KubernetesBackend(None, FakeAdapters()).down()


@pytest.mark.parametrize(
    ("quantity", "milli"),
    [("2", 2000.0), ("0.5", 500.0), ("500m", 500.0), ("250000u", 250.0), ("123456789n", 123.456789)],
)
def test_cpu_quantities_in_millicores(quantity: str, milli: float) -> None:
    assert cpu_millicores(quantity) == pytest.approx(milli)


def test_a_bad_cpu_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="not a CPU quantity"):
        cpu_millicores("lots")


def test_the_engine_comes_from_the_flag_then_the_values_file_then_the_chart(tmp_path: Path) -> None:
    """As helm merges a values file over the chart's: a file without inference.engine keeps the chart's."""
    from mlscale.autoscaling.config import load_values
    from mlscale.backends import UpOptions, kubernetes_options

    chart_engine = load_values(None)["inference"]["engine"]
    partial = tmp_path / "partial.yaml"
    partial.write_text("autoscaling:\n  maxReplicas: 3\n")
    onnx = tmp_path / "onnx.yaml"
    onnx.write_text("autoscaling:\n  maxReplicas: 3\ninference:\n  engine: onnx\n")
    assert kubernetes_options(UpOptions(values=partial)).engine == chart_engine
    assert kubernetes_options(UpOptions(values=onnx)).engine == "onnx"
    assert kubernetes_options(UpOptions(values=onnx, engine="keras")).engine == "keras"
