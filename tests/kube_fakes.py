"""A fake of the kubernetes backend's ``Adapters`` that answers only what a test scripted.

Any call the test did not script fails loudly, naming the call: a backend that starts reaching
for docker when told to skip the build, say, fails its test instead of quietly succeeding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlscale.backends.kubernetes.adapters import PodInfo
from mlscale.errors import AdapterError


class UnexpectedCall(AssertionError):
    pass


class FakeAdapters:
    """``answers[method]`` is a value, an exception to raise, or a callable of the call's arguments."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _answer(self, method: str, *args: Any) -> Any:
        self.calls.append((method, args))
        if method not in self.answers:
            raise UnexpectedCall(f"unexpected call {method}{args!r}")
        answer = self.answers[method]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer) and not isinstance(answer, type):
            return answer(*args)
        return answer

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == method]

    def which(self, program: str) -> str | None:
        return self._answer("which", program)  # type: ignore[no-any-return]

    def docker_ping(self) -> None:
        self._answer("docker_ping")

    def docker_build(self, build: Any, on_line: Callable[[str], None]) -> None:
        on_line("Step 1/9 : FROM python:3.11-slim")
        self._answer(
            "docker_build", build.context, build.dockerfile, build.tag, build.buildargs, build.target
        )

    def docker_push(self, tag: str, on_line: Callable[[str], None]) -> None:
        self._answer("docker_push", tag)

    def containerd_version(self, socket: str) -> str:
        return self._answer("containerd_version", socket)  # type: ignore[no-any-return]

    def containerd_import(self, tag: str, socket: str) -> None:
        self._answer("containerd_import", tag, socket)

    def node_port_url(self, service: str, namespace: str) -> str:
        return self._answer("node_port_url", service, namespace)  # type: ignore[no-any-return]

    def minikube_status(self) -> dict[str, str]:
        return self._answer("minikube_status")  # type: ignore[no-any-return]

    def minikube_resources(self) -> tuple[int | None, int | None]:
        return self._answer("minikube_resources")  # type: ignore[no-any-return]

    def minikube_addons(self) -> dict[str, bool]:
        return self._answer("minikube_addons")  # type: ignore[no-any-return]

    def minikube_image_load(self, tag: str) -> None:
        self._answer("minikube_image_load", tag)

    def minikube_service_url(self, service: str, namespace: str) -> str:
        return self._answer("minikube_service_url", service, namespace)  # type: ignore[no-any-return]

    def minikube_delete(self) -> None:
        self._answer("minikube_delete")

    def helm_dependency_build(self, chart: Any) -> None:
        self._answer("helm_dependency_build", chart)

    def helm_upgrade_install(self, *args: Any) -> None:
        self._answer("helm_upgrade_install", *args)

    def helm_uninstall(self, release: str, namespace: str) -> None:
        self._answer("helm_uninstall", release, namespace)

    def cluster_version(self) -> str:
        return self._answer("cluster_version")  # type: ignore[no-any-return]

    def metrics_api_ok(self) -> bool:
        return self._answer("metrics_api_ok")  # type: ignore[no-any-return]

    def deployment_status(self, name: str, namespace: str) -> tuple[int, int]:
        return self._answer("deployment_status", name, namespace)  # type: ignore[no-any-return]

    def hpa(self, name: str, namespace: str) -> dict[str, Any]:
        return self._answer("hpa", name, namespace)  # type: ignore[no-any-return]

    def hpa_events(self, name: str, namespace: str) -> list[dict[str, Any]]:
        return self._answer("hpa_events", name, namespace)  # type: ignore[no-any-return]

    def pods(self, namespace: str, selector: str) -> list[PodInfo]:
        return self._answer("pods", namespace, selector)  # type: ignore[no-any-return]

    def pod_cpu_milli(self, namespace: str, selector: str) -> dict[str, float]:
        return self._answer("pod_cpu_milli", namespace, selector)  # type: ignore[no-any-return]

    def secret(self, name: str, namespace: str) -> dict[str, str] | None:
        return self._answer("secret", name, namespace)  # type: ignore[no-any-return]

    def port_forward(self, service: str, namespace: str, local_port: int, remote_port: int) -> int:
        return self._answer("port_forward", service, namespace, local_port, remote_port)  # type: ignore[no-any-return]

    def stop_process(self, pid: int) -> None:
        self._answer("stop_process", pid)


def tools(*present: str) -> Callable[[str], str | None]:
    return lambda program: f"/usr/bin/{program}" if program in present else None


def healthy_minikube(**overrides: Any) -> FakeAdapters:
    """A machine with docker, helm, kubectl and a right-sized Minikube with metrics-server."""
    answers: dict[str, Any] = {
        "which": tools("helm", "kubectl", "minikube"),
        "docker_ping": None,
        "minikube_status": {"Host": "Running", "Kubelet": "Running", "APIServer": "Running"},
        "minikube_resources": (8192, 4),
        "minikube_addons": {"metrics-server": True, "default-storageclass": True},
        "cluster_version": "v1.33.1",
        "metrics_api_ok": True,
    }
    answers.update(overrides)
    return FakeAdapters(**answers)


__all__ = ["AdapterError", "FakeAdapters", "UnexpectedCall", "healthy_minikube", "tools"]
