"""The kubernetes backend: build the images, get them to the cluster, install the chart, watch it.

The same Backend interface as the local one: ``loadtest``, ``status``, ``report`` and ``down``
work on it unchanged. Every reach outside goes through ``Adapters``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from mlscale.backends.base import ClusterDetails, Dashboard, ReplicaStatus, SystemStatus
from mlscale.backends.kubernetes.adapters import Adapters
from mlscale.backends.kubernetes.options import ImageBuild, KubernetesOptions
from mlscale.backends.kubernetes.preflight import PreflightPlan, preflight
from mlscale.backends.state import clear_state, read_state, write_state
from mlscale.errors import AdapterError, AlreadyUp, NotUp, PreflightError, StartError
from mlscale.locations import chart_dir, service_context, state_dir
from mlscale.net import free_port

SERVICES = ("dispatcher", "inference")
_NEW_SIZE = re.compile(r"New size: (\d+); reason: (.*)")


def chart_without_subcharts() -> Path:
    """A copy of the chart that declares no subcharts, for installs without kube-prometheus-stack.

    helm refuses a chart whose declared dependencies are missing from charts/, even disabled
    ones, and fetching them needs the network: without the stack they are not needed.
    """
    chart = chart_dir()
    copy = Path(tempfile.mkdtemp(prefix="mlscale-chart-")) / chart.name
    shutil.copytree(chart, copy, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    manifest = yaml.safe_load((copy / "Chart.yaml").read_text())
    manifest.pop("dependencies", None)
    (copy / "Chart.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return copy


def _hpa_name(state: dict[str, Any]) -> str:
    """The inference Deployment's HPA: the chart's, or the one KEDA makes for its ScaledObject."""
    name = f"{state['release']}-inference"
    return f"keda-hpa-{name}" if state.get("policy") == "queue" else name


def prometheus_reach(monitoring: str, namespace: str, release: str) -> str | None:
    """The command that makes the release's Prometheus reachable at http://127.0.0.1:9090: the
    chart's own (its Service) or kube-prometheus-stack's (the operator's prometheus-operated)."""
    service = {"prometheus": f"{release}-prometheus", "stack": "prometheus-operated"}.get(monitoring)
    return f"kubectl -n {namespace} port-forward svc/{service} 9090:9090" if service else None


def image_tag(options: KubernetesOptions, service: str) -> str:
    """The image a service runs: each inference engine other than keras has its own (its runtime
    and export, no TensorFlow): mlscale-inference-litert, mlscale-inference-onnx."""
    prefix = f"{options.registry.rstrip('/')}/" if options.registry else ""
    name = f"inference-{options.engine}" if service == "inference" and options.engine != "keras" else service
    return f"{prefix}mlscale-{name}:{options.tag}"


def build_target(options: KubernetesOptions, service: str) -> str | None:
    """The inference Dockerfile's stage for the engine (keras, or fast: no TensorFlow)."""
    if service != "inference":
        return None
    return "keras" if options.engine == "keras" else "fast"


def secret_values() -> Path:
    """A 0600 values file with the dispatcher's result token: secrets never go on helm's command line."""
    from mlscale.tokens import ensure_token, write_private

    path = state_dir() / "secret-values.yaml"
    write_private(path, yaml.safe_dump({"dispatcher": {"resultToken": ensure_token("result")}}))
    return path


class KubernetesBackend:
    name = "kubernetes"

    def __init__(
        self,
        options: KubernetesOptions | None,
        adapters: Adapters,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options or KubernetesOptions()
        self.adapters = adapters
        self.console = console or Console()
        self.clock, self.sleep = clock, sleep

    def _state(self) -> dict[str, Any]:
        state = read_state()
        if state is None or state.get("backend") != "kubernetes":
            raise NotUp("no kubernetes system is up; run `mlscale up --backend kubernetes` first")
        return state

    # --- up ---
    def up(self) -> SystemStatus:
        existing = read_state()
        if existing is not None:
            raise AlreadyUp(
                f"a {existing.get('backend')} system is already up "
                f"(dispatcher {existing.get('dispatcher_url')}); run `mlscale down` first"
            )
        options = self.options
        plan = PreflightPlan(
            build=options.build,
            minikube=options.minikube,
            containerd=options.containerd if options.load else None,
            port_forward=options.reach == "port-forward",
        )
        problems = preflight(self.adapters, plan)
        if problems:
            raise PreflightError(problems)
        if options.build:
            for service in SERVICES:
                self._build(service)
        if options.load:
            for service in SERVICES:
                self._ship(image_tag(options, service))
        self._install()
        dispatcher_url, forward_pid = self._reach_dispatcher()
        write_state(
            {
                "backend": "kubernetes",
                "namespace": options.namespace,
                "release": options.release,
                "context": options.context,
                "minikube": options.minikube,
                "dispatcher_url": dispatcher_url,
                "port_forward_pid": forward_pid,
                "engine": options.engine,
                "monitoring": options.monitoring,
                "policy": self._policy(),
            }
        )
        return self.status()

    def _policy(self) -> str:
        """What scales the inference Deployment: --policy, else the last values file that says, else
        the chart's default."""
        if chosen := self.chart_values().get("autoscaling.policy"):
            return str(chosen)
        from mlscale.autoscaling.config import load_values

        policy = "cpu"
        for path in [None, *self.options.values_files]:  # None: the chart's values.yaml
            policy = (load_values(path).get("autoscaling") or {}).get("policy") or policy
        return str(policy)

    def _build(self, service: str) -> None:
        tag = image_tag(self.options, service)
        buildargs = (
            {
                "FETCH_WEIGHTS": "1" if self.options.weights == "imagenet" else "0",
                "ENGINE": self.options.engine,
            }
            if service == "inference"
            else {}
        )
        with self.console.status(f"building {tag}") as status:
            self.adapters.docker_build(
                ImageBuild(*service_context(service), tag, buildargs, build_target(self.options, service)),
                lambda line: status.update(f"building {tag}: {line[:90]}"),
            )
        self.console.print(f"built {tag}")

    def _ship(self, tag: str) -> None:
        if self.options.registry:
            with self.console.status(f"pushing {tag}") as status:
                self.adapters.docker_push(tag, lambda line: status.update(f"pushing {tag}: {line[:90]}"))
            self.console.print(f"pushed {tag}")
        elif self.options.containerd:
            with self.console.status(f"importing {tag} into containerd ({self.options.containerd})"):
                self.adapters.containerd_import(tag, self.options.containerd)
            self.console.print(f"imported {tag} into containerd")
        elif self.options.minikube:
            with self.console.status(f"loading {tag} into Minikube"):
                self.adapters.minikube_image_load(tag)
            self.console.print(f"loaded {tag} into Minikube")

    def chart_values(self) -> dict[str, str]:
        options = self.options
        values = {
            "image.tag": options.tag,
            "inference.weights": options.weights,
            "inference.engine": options.engine,
            "kube-prometheus-stack.enabled": str(options.monitoring == "stack").lower(),
            "loki.enabled": str(options.monitoring == "stack").lower(),
            "promtail.enabled": str(options.monitoring == "stack").lower(),
            "monitoring.prometheus.enabled": str(options.monitoring == "prometheus").lower(),
        }
        if options.registry:
            values["image.registry"] = options.registry
            values["image.pullPolicy"] = "Always"
        if options.result_url:
            values["dispatcher.resultUrl"] = options.result_url
        if not options.minikube:
            values["dispatcher.service.type"] = "NodePort" if options.expose == "node-port" else "ClusterIP"
        return {**values, **options.set_values}

    def _chart(self) -> Path:
        return chart_dir() if self.options.monitoring == "stack" else chart_without_subcharts()

    def _install(self) -> None:
        options = self.options
        if options.monitoring == "stack":
            with self.console.status("fetching the monitoring subcharts (helm dependency build)"):
                try:
                    self.adapters.helm_dependency_build(chart_dir())
                except AdapterError as exc:
                    raise AdapterError(
                        f"{exc}\nno network for the subcharts? pass --monitoring prometheus (the chart's own)"
                        " or off"
                    ) from exc
        with self.console.status(f"helm upgrade --install {options.release} (waiting for the rollout)"):
            self.adapters.helm_upgrade_install(
                options.release,
                self._chart(),
                options.namespace,
                [*options.values_files, secret_values()],
                self.chart_values(),
                options.timeout_s,
            )
        deadline = self.clock() + options.timeout_s
        may_be_at_zero = self._policy() == "queue"  # KEDA may have scaled inference to zero already
        with self.console.status("waiting for the deployments") as status:
            for component in SERVICES:
                while True:
                    ready, desired = self.adapters.deployment_status(
                        f"{options.release}-{component}", options.namespace
                    )
                    status.update(f"{component}: {ready}/{desired} ready")
                    if (desired and ready >= desired) or (
                        component == "inference" and may_be_at_zero and desired == 0
                    ):
                        break
                    if self.clock() > deadline:
                        raise StartError(
                            f"{component} was not ready after {options.timeout_s} s ({ready}/{desired})"
                        )
                    self.sleep(2)
        self.console.print(f"installed release {options.release} in namespace {options.namespace}")

    def _reach_dispatcher(self) -> tuple[str, int | None]:
        options = self.options
        service = f"{options.release}-dispatcher"
        if options.reach == "url":
            return str(options.dispatcher_url).rstrip("/"), None
        if options.reach == "minikube":
            return self.adapters.minikube_service_url(service, options.namespace).strip().rstrip("/"), None
        if options.reach == "node-port":
            return self.adapters.node_port_url(service, options.namespace), None
        port = free_port()
        pid = self.adapters.port_forward(service, options.namespace, port, 8000)
        return f"http://127.0.0.1:{port}", pid

    # --- watching ---
    def _replica_statuses(self, namespace: str, selector: str) -> list[ReplicaStatus]:
        """Each inference pod: readiness, restarts, CPU and its start-up times."""
        cpu = self.adapters.pod_cpu_milli(namespace, selector)
        replicas = []
        for pod in self.adapters.pods(namespace, selector):
            used = cpu.get(pod.name)
            replicas.append(
                ReplicaStatus(
                    id=pod.name,
                    url=f"http://{pod.ip}:8001" if pod.ip else "",
                    ready=pod.ready,
                    terminating=pod.terminating,
                    restarts=pod.restarts,
                    created_at=pod.times[0],
                    started_at=pod.times[1],
                    ready_at=pod.times[2],
                    cpu_milli=used,
                    cpu_utilization=used * 100 / pod.cpu_request_milli
                    if used is not None and pod.cpu_request_milli
                    else None,
                )
            )
        return replicas

    def status(self) -> SystemStatus:
        state = self._state()
        namespace, release = state["namespace"], state["release"]
        hpa = self.adapters.hpa(_hpa_name(state), namespace)
        spec, hpa_status = hpa.get("spec") or {}, hpa.get("status") or {}
        selector = self._selector_for(release, "inference")
        replicas = self._replica_statuses(namespace, selector)
        target = next(
            (
                m["resource"]["target"].get("averageUtilization")
                for m in spec.get("metrics") or []
                if m.get("type") == "Resource"
            ),
            None,
        )
        grafana = self.adapters.secret("mlscale-grafana-admin", namespace)
        cluster = ClusterDetails(
            namespace=namespace,
            release=release,
            conditions={c["type"]: c["status"] for c in hpa_status.get("conditions") or []},
            dashboard=Dashboard(
                name="Grafana",
                user=str(grafana.get("admin-user")),
                password=str(grafana.get("admin-password")),
                reach=f"kubectl -n {namespace} port-forward svc/{release}-grafana 3000:80",
            )
            if grafana
            else None,
            prometheus=prometheus_reach(state.get("monitoring", "off"), namespace, release),
        )
        decisions = self._decisions(state, hpa)
        return SystemStatus(
            backend="kubernetes",
            dispatcher_url=state["dispatcher_url"],
            replicas=replicas,
            # 0 until the controller has synced once (an HPA cannot ask for 0 with minReplicas >= 1)
            desired_replicas=int(
                hpa_status.get("desiredReplicas") or hpa_status.get("currentReplicas") or len(replicas)
            ),
            min_replicas=int(spec.get("minReplicas", 1)),
            max_replicas=int(spec.get("maxReplicas", 1)),
            target_cpu_utilization=int(target or 0),
            last_decision=decisions[-1] if decisions else None,
            cluster=cluster,
            engine=str(state.get("engine", "keras")),
            policy=str(state.get("policy", "cpu")),
        )

    @staticmethod
    def _selector_for(release: str, component: str) -> str:
        return f"app.kubernetes.io/instance={release},app.kubernetes.io/component={component}"

    def decisions(self) -> list[dict[str, Any]]:
        """The HPA controller's own record: its SuccessfulRescale events ("New size: N; reason: …")."""
        state = self._state()
        return self._decisions(state, self.adapters.hpa(_hpa_name(state), state["namespace"]))

    def _decisions(self, state: dict[str, Any], hpa: dict[str, Any]) -> list[dict[str, Any]]:
        current = int((hpa.get("spec") or {}).get("minReplicas", 1))
        events = self.adapters.hpa_events(_hpa_name(state), state["namespace"])
        decisions = []
        for event in sorted((e for e in events if e.get("at") is not None), key=lambda e: float(e["at"])):
            match = _NEW_SIZE.match(event.get("message") or "")
            if event.get("reason") != "SuccessfulRescale" or match is None:
                continue
            desired = int(match.group(1))
            decisions.append(
                {
                    "at": float(event["at"]),
                    "current": current,
                    "desired": desired,
                    "utilization": None,
                    "reason": match.group(2),
                }
            )
            current = desired
        return decisions

    # --- down ---
    def down(self, *, delete_cluster: bool = False) -> None:
        """Uninstall the release and stop the port-forward; ``delete_cluster``: `minikube delete` too."""
        state = self._state()
        with self.console.status(f"helm uninstall {state['release']}"):
            self.adapters.helm_uninstall(state["release"], state["namespace"])
        if state.get("port_forward_pid"):
            self.adapters.stop_process(int(state["port_forward_pid"]))
        clear_state()
        if delete_cluster and state.get("minikube"):
            with self.console.status("minikube delete"):
                self.adapters.minikube_delete()
