"""The kubernetes backend's reach into the world: docker, minikube, helm, kubectl, the API server.

``Adapters`` is everything the backend may ask; ``RealAdapters`` answers with the Docker SDK,
the ``kubernetes`` client and the three command-line tools. Each method is thin: no decisions
here, so the backend's logic is tested against a fake of this one Protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlscale.backends.base import cpu_millicores
from mlscale.backends.kubernetes.images import ImageAdapters
from mlscale.backends.kubernetes.options import ImageBuild
from mlscale.backends.kubernetes.pod_times import pod_times
from mlscale.backends.kubernetes.tools import run_tool as _run
from mlscale.errors import AdapterError


@dataclass
class PodInfo:
    name: str
    ip: str | None
    ready: bool
    terminating: bool
    cpu_request_milli: float | None
    started_at: str | None
    restarts: int = 0
    """Container restarts (the kubelet's restartCount, summed over the pod's containers)."""
    times: tuple[float | None, float | None, float | None] = (None, None, None)
    """Epoch seconds: created, its first container running, Ready."""


class Adapters(Protocol):
    def which(self, program: str) -> str | None: ...

    def docker_ping(self) -> None: ...

    def docker_build(self, build: ImageBuild, on_line: Callable[[str], None]) -> None: ...

    def docker_push(self, tag: str, on_line: Callable[[str], None]) -> None: ...

    def containerd_version(self, socket: str) -> str:
        """The version of the containerd at ``socket``; AdapterError if it does not answer."""
        ...

    def containerd_import(self, tag: str, socket: str) -> None:
        """The built image into the containerd at ``socket``, namespace k8s.io (where CRI looks)."""
        ...

    def minikube_status(self) -> dict[str, str]: ...

    def minikube_resources(self) -> tuple[int | None, int | None]:
        """The profile's memory (MB) and CPUs, None where minikube does not say."""
        ...

    def minikube_addons(self) -> dict[str, bool]: ...

    def minikube_image_load(self, tag: str) -> None: ...

    def minikube_service_url(self, service: str, namespace: str) -> str: ...

    def minikube_delete(self) -> None: ...

    def helm_dependency_build(self, chart: Path) -> None: ...

    def helm_upgrade_install(
        self,
        release: str,
        chart: Path,
        namespace: str,
        values_files: list[Path],
        set_values: dict[str, str],
        timeout_s: int,
    ) -> None: ...

    def helm_uninstall(self, release: str, namespace: str) -> None: ...

    def cluster_version(self) -> str: ...

    def metrics_api_ok(self) -> bool: ...

    def node_port_url(self, service: str, namespace: str) -> str:
        """http://<a Ready node's InternalIP>:<the Service's nodePort>."""
        ...

    def deployment_status(self, name: str, namespace: str) -> tuple[int, int]:
        """(ready replicas, desired replicas)."""
        ...

    def hpa(self, name: str, namespace: str) -> dict[str, Any]: ...

    def hpa_events(self, name: str, namespace: str) -> list[dict[str, Any]]: ...

    def pods(self, namespace: str, selector: str) -> list[PodInfo]: ...

    def pod_cpu_milli(self, namespace: str, selector: str) -> dict[str, float]: ...

    def secret(self, name: str, namespace: str) -> dict[str, str] | None: ...

    def port_forward(self, service: str, namespace: str, local_port: int, remote_port: int) -> int: ...

    def stop_process(self, pid: int) -> None: ...


class RealAdapters(ImageAdapters):
    """The real thing. Imports of docker and kubernetes wait until first use."""

    def __init__(self, context: str | None = None) -> None:
        self.context = context
        self._api: Any = None

    # --- programs ---
    def which(self, program: str) -> str | None:
        return shutil.which(program)

    # --- minikube ---
    def minikube_status(self) -> dict[str, str]:
        try:
            output = _run(["minikube", "status", "--output", "json"], timeout=60)
        except AdapterError as exc:  # `minikube status` exits non-zero when stopped, still printing JSON
            output = str(exc).partition("failed: ")[2]
        try:
            data = json.loads(output)
        except ValueError:
            return {"Host": "Unknown"}
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {"Host": "Unknown"}

    def minikube_resources(self) -> tuple[int | None, int | None]:
        profiles = json.loads(_run(["minikube", "profile", "list", "--output", "json"], timeout=60))
        for profile in profiles.get("valid", []):
            config = profile.get("Config", {})
            if profile.get("Name") == "minikube" or len(profiles.get("valid", [])) == 1:
                return config.get("Memory"), config.get("CPUs")
        return None, None

    def minikube_addons(self) -> dict[str, bool]:
        data = json.loads(_run(["minikube", "addons", "list", "--output", "json"], timeout=60))
        return {name: info.get("Status") == "enabled" for name, info in data.items()}

    def minikube_image_load(self, tag: str) -> None:
        _run(["minikube", "image", "load", tag], timeout=1800)

    def minikube_service_url(self, service: str, namespace: str) -> str:
        return _run(["minikube", "service", service, "-n", namespace, "--url"], timeout=120).split()[0]

    def minikube_delete(self) -> None:
        _run(["minikube", "delete"], timeout=600)

    # --- helm ---
    def _kube_args(self) -> list[str]:
        return ["--kube-context", self.context] if self.context else []

    def helm_dependency_build(self, chart: Path) -> None:
        _run(["helm", "dependency", "build", str(chart)], timeout=600)

    def helm_upgrade_install(
        self,
        release: str,
        chart: Path,
        namespace: str,
        values_files: list[Path],
        set_values: dict[str, str],
        timeout_s: int,
    ) -> None:
        args = [
            "helm",
            "upgrade",
            "--install",
            release,
            str(chart),
            "--namespace",
            namespace,
            "--create-namespace",
            "--wait",
            "--timeout",
            f"{timeout_s}s",
            *self._kube_args(),
        ]
        for path in values_files:
            args += ["-f", str(path)]
        for key, value in set_values.items():
            args += [
                "--set-string" if key.endswith(("tag", "registry", "weights", "Url")) else "--set",
                f"{key}={value}",
            ]
        _run(args, timeout=timeout_s + 60)

    def helm_uninstall(self, release: str, namespace: str) -> None:
        _run(
            ["helm", "uninstall", release, "--namespace", namespace, "--wait", *self._kube_args()],
            timeout=600,
        )

    # --- the API server ---
    def _client(self) -> Any:
        if self._api is None:
            from kubernetes import client, config

            try:  # KUBECONFIG read now: the client reads it once, when first imported
                config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), context=self.context)  # type: ignore[no-untyped-call]
            except Exception as exc:  # no file, no such context, a malformed file: all say why
                raise AdapterError(f"no usable kubeconfig: {exc}") from exc
            self._api = client
        return self._api

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return call()
        except ApiException as exc:
            raise AdapterError(f"{what}: {exc.status} {exc.reason}") from exc
        except (HTTPError, OSError) as exc:
            raise AdapterError(f"{what}: the API server did not answer ({exc})") from exc

    def cluster_version(self) -> str:
        client = self._client()
        info = self._call("reading the cluster's version", lambda: client.VersionApi().get_code())
        return str(info.git_version)

    def node_port_url(self, service: str, namespace: str) -> str:
        client = self._client()
        core = client.CoreV1Api()
        found = self._call(
            f"reading Service {service}", lambda: core.read_namespaced_service(service, namespace)
        )
        ports = [p.node_port for p in found.spec.ports or [] if p.node_port]
        if not ports:
            raise AdapterError(f"Service {service} has no node port (its type is {found.spec.type})")
        nodes = self._call("listing nodes", lambda: core.list_node()).items
        for node in nodes:
            ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
            addresses = [a.address for a in node.status.addresses or [] if a.type == "InternalIP"]
            if ready and addresses:
                return f"http://{addresses[0]}:{ports[0]}"
        raise AdapterError("no Ready node has an InternalIP to reach a node port at")

    def metrics_api_ok(self) -> bool:
        client = self._client()
        try:
            self._call(
                "reading pod metrics",
                lambda: client.CustomObjectsApi().list_namespaced_custom_object(
                    "metrics.k8s.io", "v1beta1", "kube-system", "pods"
                ),
            )
        except AdapterError:
            return False
        return True

    def deployment_status(self, name: str, namespace: str) -> tuple[int, int]:
        client = self._client()
        deployment = self._call(
            f"reading deployment {name}",
            lambda: client.AppsV1Api().read_namespaced_deployment(name, namespace),
        )
        return int(deployment.status.ready_replicas or 0), int(deployment.spec.replicas or 0)

    def hpa(self, name: str, namespace: str) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        client = self._client()
        try:  # autoscaling/v2 from Kubernetes 1.23; v2beta2 (the same fields) before it
            found = client.AutoscalingV2Api().read_namespaced_horizontal_pod_autoscaler(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise AdapterError(f"reading HPA {name}: {exc.status} {exc.reason}") from exc
            return self._call(  # type: ignore[no-any-return]
                f"reading HPA {name}",
                lambda: client.CustomObjectsApi().get_namespaced_custom_object(
                    "autoscaling", "v2beta2", namespace, "horizontalpodautoscalers", name
                ),
            )
        return client.ApiClient().sanitize_for_serialization(found)  # type: ignore[no-any-return]

    def hpa_events(self, name: str, namespace: str) -> list[dict[str, Any]]:
        client = self._client()
        events = self._call(
            f"reading events of HPA {name}",
            lambda: client.CoreV1Api().list_namespaced_event(
                namespace,
                field_selector=f"involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name={name}",
            ),
        )
        result = []
        for event in events.items:
            when = event.last_timestamp or event.event_time or event.first_timestamp
            result.append(
                {"at": when.timestamp() if when else None, "reason": event.reason, "message": event.message}
            )
        return result

    def pods(self, namespace: str, selector: str) -> list[PodInfo]:
        client = self._client()
        listed = self._call(
            "listing pods", lambda: client.CoreV1Api().list_namespaced_pod(namespace, label_selector=selector)
        )
        pods = []
        for pod in listed.items:
            conditions = {c.type: c.status for c in (pod.status.conditions or [])}
            requests = [
                (c.resources.requests or {}).get("cpu")
                for c in pod.spec.containers
                if c.resources is not None
            ]
            request = sum(cpu_millicores(r) for r in requests if r) or None
            pods.append(
                PodInfo(
                    name=pod.metadata.name,
                    ip=pod.status.pod_ip,
                    ready=conditions.get("Ready") == "True",
                    terminating=pod.metadata.deletion_timestamp is not None,
                    cpu_request_milli=request,
                    started_at=pod.status.start_time.isoformat() if pod.status.start_time else None,
                    restarts=sum(c.restart_count or 0 for c in pod.status.container_statuses or []),
                    times=pod_times(pod),
                )
            )
        return pods

    def pod_cpu_milli(self, namespace: str, selector: str) -> dict[str, float]:
        client = self._client()
        listed = self._call(
            "reading pod metrics",
            lambda: client.CustomObjectsApi().list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", namespace, "pods", label_selector=selector
            ),
        )
        return {
            item["metadata"]["name"]: sum(
                cpu_millicores(c["usage"]["cpu"]) for c in item.get("containers") or []
            )
            for item in listed.get("items") or []
        }

    def secret(self, name: str, namespace: str) -> dict[str, str] | None:
        import base64

        client = self._client()
        try:
            found = self._call(
                f"reading secret {name}", lambda: client.CoreV1Api().read_namespaced_secret(name, namespace)
            )
        except AdapterError:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (found.data or {}).items()}

    # --- processes ---
    def port_forward(self, service: str, namespace: str, local_port: int, remote_port: int) -> int:
        args = ["kubectl", "port-forward", f"svc/{service}", f"{local_port}:{remote_port}", "-n", namespace]
        if self.context:
            args += ["--context", self.context]
        # Detached: it must outlive this CLI until `mlscale down`. What it says goes to a file, so a
        # failure (now or later) can be told in its own words.
        log = Path(tempfile.gettempdir()) / f"mlscale-port-forward-{service}-{local_port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", local_port)) == 0:
                    return process.pid
            if process.poll() is not None:
                said = log.read_text(errors="replace").strip() or "no output"
                raise AdapterError(
                    f"kubectl port-forward svc/{service} exited with {process.returncode}: {said}"
                )
            time.sleep(0.1)
        process.terminate()
        raise AdapterError(f"kubectl port-forward svc/{service} did not open port {local_port} (see {log})")

    def stop_process(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
