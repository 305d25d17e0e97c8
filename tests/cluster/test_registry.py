"""`mlscale up --registry`: the images pushed to a real registry (Debian's docker-registry on
127.0.0.1) and the node's containerd pulled them from it, as on a cluster whose nodes are not the
builder's machine."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from mlscale import __version__
from tests.cluster.node import GATEWAY, OneNodeCluster
from tests.cluster.runs import cluster_env, inference_image, mlscale, up_on_cluster
from tests.k8s.testbed import free_port

NAMESPACE = "mlscale-registry"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'store'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: warn\n"
    )
    with (tmp_path / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "registry.log").read_text()
            assert time.monotonic() < deadline, "docker-registry did not answer in 30 s"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_images_go_through_the_registry(one_node: OneNodeCluster, registry: str, tmp_path: Path) -> None:
    one_node.trust_registry(registry)
    env = cluster_env(one_node.kubeconfig, tmp_path / "state")
    output = up_on_cluster(
        env, NAMESPACE, f"http://{GATEWAY}:{free_port()}/storeLatency", "--registry", registry
    )
    try:
        assert f"pushed {registry}/{inference_image()}:{__version__}" in output, output[-2000:]
        catalog = httpx.get(f"http://{registry}/v2/_catalog", timeout=5).json()
        assert {"mlscale-dispatcher", inference_image()} <= set(catalog["repositories"])
        pods: list[Any] = client.CoreV1Api(one_node.api).list_namespaced_pod(NAMESPACE).items
        assert pods
        for pod in pods:
            (spec,) = pod.spec.containers
            assert spec.image.startswith(f"{registry}/")
            assert spec.image_pull_policy == "Always"
            (running,) = pod.status.container_statuses
            assert running.ready
            # What runs is what the registry serves under that tag (the digest; the repository
            # name docker shows with it may be any that ever held the same image).
            repository, tag = spec.image.removeprefix(f"{registry}/").split(":")
            manifest = httpx.head(
                f"http://{registry}/v2/{repository}/manifests/{tag}",
                headers={"accept": "application/vnd.docker.distribution.manifest.v2+json"},
                timeout=5,
            )
            assert running.image_id.endswith(manifest.headers["docker-content-digest"])
    finally:
        mlscale(env, "down", timeout=600)
