"""What the kubernetes backend is asked to do, validated when it is made."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mlscale import __version__
from mlscale.errors import InputError

IMAGE_WEIGHTS = ("imagenet", "none")
"""The image bakes its weights in: ImageNet's (fetched at build time) or none (random, same CPU)."""
EXPOSE = ("port-forward", "node-port")
MONITORING = ("stack", "prometheus", "off")
"""stack: the chart's kube-prometheus-stack, Loki and promtail subcharts (fetched by helm, so they
need their chart repositories); prometheus: the chart's own Prometheus (monitoring.prometheus),
nothing fetched; off: none."""
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class ImageBuild:
    """One image to build: its context and Dockerfile, tag, build arguments and Dockerfile stage."""

    context: Path
    dockerfile: str
    """Its path inside ``context``."""
    tag: str
    buildargs: dict[str, str] = field(default_factory=dict)
    target: str | None = None


@dataclass
class KubernetesOptions:
    namespace: str = "mlscale"
    release: str = "mlscale"
    context: str | None = None
    minikube: bool = True
    """The cluster is Minikube: check it, load images into it, reach the dispatcher through it."""
    build: bool = True
    load: bool = True
    """Minikube: `minikube image load`; with a registry: push; with containerd: import into it."""
    registry: str | None = None
    containerd: str | None = None
    """The socket of the node's containerd (a node on this machine, e.g. kubeadm's or k3s's): the
    images are imported into its ``k8s.io`` namespace, as `kind load docker-image` does."""
    tag: str = __version__
    weights: str = "imagenet"
    engine: str = "keras"
    """keras (the Keras image) or litert/onnx (the fast image: the export, no TensorFlow)."""
    monitoring: str = "stack"
    """One of MONITORING."""
    values_files: list[Path] = field(default_factory=list)
    set_values: dict[str, str] = field(default_factory=dict)
    """Extra chart values (e.g. autoscaling overrides), as helm --set."""
    result_url: str | None = None
    dispatcher_url: str | None = None
    """Reach the dispatcher here instead of through Minikube or a port-forward."""
    expose: str = "port-forward"
    """Off Minikube, how the dispatcher is reached: ``port-forward`` (kubectl, through the API server
    and the kubelet: fine for a look, costly per request) or ``node-port`` (its Service as a
    NodePort, at a node's InternalIP: the path a load test should take)."""
    timeout_s: int = 900

    @property
    def reach(self) -> str:
        """How ``up`` reaches the dispatcher: ``url`` (--dispatcher-url), ``minikube``, or, off
        Minikube, ``expose`` (``node-port`` or ``port-forward``)."""
        if self.dispatcher_url:
            return "url"
        return "minikube" if self.minikube else self.expose

    def __post_init__(self) -> None:
        for what, name in (("--namespace", self.namespace), ("release", self.release)):
            if not _DNS_LABEL.fullmatch(name):
                raise InputError(f"{what} {name!r} is not a Kubernetes name (lowercase a-z, 0-9, '-'; <= 63)")
        if self.weights not in IMAGE_WEIGHTS:
            raise InputError(
                "--backend kubernetes takes --weights imagenet or none (a file would be in the image)"
            )
        for what, url in (("--result-url", self.result_url), ("--dispatcher-url", self.dispatcher_url)):
            if url is not None and (
                urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname
            ):
                raise InputError(f"{what} must be an http(s) URL, not {url!r}")
        if self.containerd is not None and (self.registry or self.minikube):
            raise InputError(
                "--containerd imports the images into a node's containerd: not with "
                + (
                    "--registry (the node pulls from it)"
                    if self.registry
                    else "Minikube (pass --no-minikube)"
                )
            )
        if self.monitoring not in MONITORING:
            raise InputError(f"--monitoring takes {', '.join(MONITORING)}, not {self.monitoring!r}")
        if self.expose not in EXPOSE:
            raise InputError(f"--expose takes {' or '.join(EXPOSE)}, not {self.expose!r}")
        if self.timeout_s <= 0:
            raise InputError(f"the rollout timeout must be > 0 s, not {self.timeout_s}")
