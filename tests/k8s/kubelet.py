"""For tests only: a fake kubelet (and scheduler) on the testbed.

It registers one Node and keeps its Ready condition fresh, binds every pending pod to it, marks
bound pods Running and Ready after ``startup_seconds`` (containers never run), and removes pods
that are being deleted, as a kubelet would once their containers stopped.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

NODE = "fake-node"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class FakeKubelet:
    def __init__(self, api: client.ApiClient, startup_seconds: float = 2.0, period: float = 0.25) -> None:
        self.core = client.CoreV1Api(api)
        self.startup_seconds = startup_seconds
        self.period = period
        self.not_ready: set[str] = set()
        """Pod names the test wants Running but not Ready."""
        self.may_change_status: Callable[[], bool] = lambda: True
        """Asked before each status change; False: leave it to a later round. The 1,000-pod test
        keeps changes away from the HPA's syncs, so the controller's informer has caught up."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kubelet", daemon=True)
        self._addresses: dict[str, str] = {}

    def start(self) -> FakeKubelet:
        self.core.create_node(
            client.V1Node(
                metadata=client.V1ObjectMeta(name=NODE, labels={"kubernetes.io/hostname": NODE}),
                status=client.V1NodeStatus(
                    capacity={"cpu": "16", "memory": "64Gi", "pods": "2000"},
                    allocatable={"cpu": "16", "memory": "64Gi", "pods": "2000"},
                ),
            )
        )
        self._heartbeat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _heartbeat(self) -> None:
        now = _now()
        body = {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "fake kubelet",
                        "lastHeartbeatTime": now.isoformat(),
                        "lastTransitionTime": now.isoformat(),
                    }
                ]
            }
        }
        self.core.patch_node_status(NODE, body)

    def _run(self) -> None:
        beats = 0
        while not self._stop.wait(self.period):
            beats += 1
            # Never die on one bad round: the API server may be restarting or shutting down.
            with contextlib.suppress(ApiException, OSError, urllib3.exceptions.HTTPError):
                if beats % 20 == 0:
                    self._heartbeat()
                for pod in self.core.list_pod_for_all_namespaces().items:
                    self._tend(pod)

    def _address(self, uid: str) -> str:
        if uid not in self._addresses:
            self._addresses[uid] = f"127.0.200.{len(self._addresses) % 250 + 1}"
        return self._addresses[uid]

    def _tend(self, pod: Any) -> None:
        meta, status = pod.metadata, pod.status
        name, namespace = meta.name, meta.namespace
        if meta.deletion_timestamp is not None:
            with contextlib.suppress(ApiException):
                self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
            return
        if not pod.spec.node_name:
            binding = client.V1Binding(
                metadata=client.V1ObjectMeta(name=name),
                target=client.V1ObjectReference(api_version="v1", kind="Node", name=NODE),
            )
            with contextlib.suppress(ApiException):
                # The generated client fails to read the Status this returns; the binding is made.
                self.core.create_namespaced_binding(namespace, binding, _preload_content=False)
            return
        age = (_now() - meta.creation_timestamp).total_seconds()
        if age < self.startup_seconds:
            return
        ready = name not in self.not_ready
        current = {c.type: c.status for c in (status.conditions or [])}
        if status.phase == "Running" and current.get("Ready") == ("True" if ready else "False"):
            return
        if not self.may_change_status():
            return
        now = _now().isoformat()
        started = status.start_time.isoformat() if status.start_time else now
        containers = [
            {
                "name": c.name,
                "ready": ready,
                "restartCount": 0,
                "image": c.image,
                "imageID": "",
                "started": True,
                "state": {"running": {"startedAt": started}},
            }
            for c in pod.spec.containers
        ]
        flag = "True" if ready else "False"
        body = {
            "status": {
                "phase": "Running",
                "hostIP": "127.0.0.1",
                "podIP": self._address(meta.uid),
                "podIPs": [{"ip": self._address(meta.uid)}],
                "startTime": started,
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                    {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                    {"type": "Ready", "status": flag, "lastTransitionTime": now},
                ],
                "containerStatuses": containers,
            }
        }
        with contextlib.suppress(ApiException):
            self.core.patch_namespaced_pod_status(name, namespace, body)
