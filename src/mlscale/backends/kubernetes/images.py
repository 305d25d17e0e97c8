"""The kubernetes backend's images: built and pushed with the Docker SDK, or imported into a
node's containerd. ``RealAdapters`` inherits these; no decisions here, as in the rest of it."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlscale.backends.kubernetes.options import ImageBuild
from mlscale.backends.kubernetes.tools import run_tool
from mlscale.errors import AdapterError


class ImageAdapters:
    # --- docker ---
    def _docker(self) -> Any:
        import docker

        try:
            # A fixed API version: "auto" would connect in the constructor, and a failed connect there
            # leaves its socket open. 1.41 is Docker 20.10, older than any engine that builds these images.
            return docker.from_env(version="1.41")
        except docker.errors.DockerException as exc:
            raise AdapterError(f"docker is not reachable: {exc}") from exc

    def docker_ping(self) -> None:
        import docker

        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
            # Said plainly, and before the SDK, whose failed unix connect leaves its socket open.
            raise AdapterError(
                f"docker is not reachable: no Docker engine socket at {host.removeprefix('unix://')}"
            )
        client = self._docker()
        try:
            client.ping()
        except (docker.errors.DockerException, OSError) as exc:
            raise AdapterError(f"docker is not reachable: {exc}") from exc
        finally:
            client.close()

    def docker_build(self, build: ImageBuild, on_line: Callable[[str], None]) -> None:
        chunks = self._docker().api.build(
            path=str(build.context), dockerfile=build.dockerfile, tag=build.tag, buildargs=build.buildargs,
            target=build.target, decode=True, rm=True,
        )  # fmt: skip
        for chunk in chunks:
            if "error" in chunk:
                raise AdapterError(f"building {build.tag}: {chunk['error'].strip()}")
            text = (chunk.get("stream") or chunk.get("status") or "").strip()
            if text:
                on_line(text)

    def docker_push(self, tag: str, on_line: Callable[[str], None]) -> None:
        for chunk in self._docker().api.push(tag, stream=True, decode=True):
            if "error" in chunk:
                raise AdapterError(f"pushing {tag}: {chunk['error'].strip()}")
            if chunk.get("status"):
                on_line(f"{chunk['status']} {chunk.get('progress', '')}".strip())

    def containerd_version(self, socket: str) -> str:
        said = run_tool(["ctr", "--address", socket, "version"], timeout=30)
        server = said.split("Server:", 1)[-1]
        return next((ln.split(":", 1)[1].strip() for ln in server.splitlines() if "Version:" in ln), "")

    def containerd_import(self, tag: str, socket: str) -> None:
        # `docker save` streamed into `ctr images import`, as `kind load docker-image` does inside
        # its node: nothing of the image is held in memory or written to disk here.
        import docker

        args = ["ctr", "--address", socket, "--namespace", "k8s.io", "images", "import", "--digests", "-"]
        client = self._docker()
        try:
            archive = client.images.get(tag).save(named=tag)  # this name, not whichever tag is first
            with tempfile.TemporaryFile() as said:
                try:
                    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=said, stderr=said)
                except FileNotFoundError as exc:
                    raise AdapterError("ctr (containerd's client) is not installed") from exc
                assert process.stdin is not None
                try:
                    for chunk in archive:
                        process.stdin.write(chunk)
                except BrokenPipeError:
                    pass  # ctr stopped reading: its exit code and words say why
                finally:
                    process.stdin.close()
                if process.wait(timeout=1800) != 0:
                    said.seek(0)
                    words = said.read().decode(errors="replace").strip()
                    raise AdapterError(f"importing {tag} into containerd at {socket} failed: {words}")
        except docker.errors.DockerException as exc:
            raise AdapterError(f"reading {tag} from docker: {exc}") from exc
        finally:
            client.close()
