"""``mlscale up / status / down / demo``: thin; the backends do the work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mlscale.backends.base import Backend, SystemStatus, read_state, state_dir
from mlscale.backends.kubernetes.backend import KubernetesBackend, KubernetesOptions
from mlscale.backends.local import LocalBackend
from mlscale.backends.local_system import LocalOptions
from mlscale.errors import InputError

console = Console()
BACKENDS = ("local", "kubernetes")
DEFAULT_RESULT_URL = "http://127.0.0.1:3003/storeLatency"


def backend_for(
    name: str | None = None,
    options: LocalOptions | None = None,
    kubernetes: KubernetesOptions | None = None,
) -> Backend:
    """The named backend, or the one the state file says is up (local by default)."""
    state = read_state() or {}
    chosen = name or state.get("backend", "local")
    if chosen not in BACKENDS:
        raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, not {chosen!r}")
    if chosen == "kubernetes":
        from mlscale.backends.kubernetes.adapters import RealAdapters

        context = kubernetes.context if kubernetes else state.get("context")
        return KubernetesBackend(kubernetes, RealAdapters(context), console)
    return LocalBackend(options, console)


def status_table(status: SystemStatus) -> Table:
    table = Table(title=f"{status.backend} system · dispatcher {status.dispatcher_url}")
    for column in ("process", "url", "pid", "ready", "restarts", "CPU (m)", "CPU % of request"):
        table.add_column(column, justify="left" if column in ("process", "url") else "right")
    if status.dispatcher is not None:
        health = status.dispatcher
        table.add_row(
            "dispatcher",
            status.dispatcher_url,
            str(health.pid) if health.alive else f"{health.pid} (exited {health.last_exit})",
            "yes" if health.ready else "[red]no[/]",
            str(health.restarts),
            "–",
            "–",
        )
    for replica in status.replicas:
        table.add_row(
            replica.id + (" (terminating)" if replica.terminating else ""),
            replica.url,
            "–" if replica.pid is None else str(replica.pid) if replica.alive else f"{replica.pid} (exited)",
            "yes" if replica.ready else "no",
            str(replica.restarts),
            f"{replica.cpu_milli:.0f}" if replica.cpu_milli is not None else "–",
            f"{replica.cpu_utilization:.0f} %" if replica.cpu_utilization is not None else "–",
        )
    decision = status.last_decision or {}
    table.caption = (
        f"replicas {status.ready_replicas} ready of {len(status.replicas)}, "
        f"desired {status.desired_replicas} (min {status.min_replicas}, max {status.max_replicas}, "
        f"CPU target {status.target_cpu_utilization} %)"
        + (f" · time scale {status.time_scale:g}" if status.time_scale != 1 else "")
        + (f" · last decision: {decision.get('reason')}" if decision else "")
    )
    return table


def up(
    backend: Annotated[str, typer.Option(help="local or kubernetes")] = "local",
    weights: Annotated[
        str | None,
        typer.Option(
            help="imagenet, none (random, same CPU) or a weights file [local: none; kubernetes: imagenet]"
        ),
    ] = None,
    cpu_request: Annotated[
        str | None, typer.Option(help="per replica, e.g. 500m (default: values.yaml)")
    ] = None,
    min_replicas: Annotated[int | None, typer.Option(min=1, help="override autoscaling.minReplicas")] = None,
    max_replicas: Annotated[int | None, typer.Option(min=1, help="override autoscaling.maxReplicas")] = None,
    target_cpu: Annotated[int | None, typer.Option(min=1, help="override the CPU target, percent")] = None,
    time_scale: Annotated[
        float, typer.Option(help="multiply every HPA period and window (0 < x <= 1)")
    ] = 1.0,
    dispatcher_port: Annotated[int, typer.Option(help="the dispatcher's port on 127.0.0.1")] = 8000,
    result_url: Annotated[str, typer.Option(help="where the dispatcher posts outcomes")] = (
        "http://127.0.0.1:3003/storeLatency"
    ),  # the kubernetes backend's default is the chart's (the host as Minikube's pods see it)
    values: Annotated[Path | None, typer.Option(help="Helm values file with the autoscaling section")] = None,
    kube_context: Annotated[str | None, typer.Option(help="kubernetes: the kubeconfig context")] = None,
    namespace: Annotated[str, typer.Option(help="kubernetes: the namespace")] = "mlscale",
    minikube: Annotated[bool, typer.Option(help="kubernetes: the cluster is Minikube")] = True,
    registry: Annotated[
        str | None, typer.Option(help="kubernetes: push images here instead of loading them into Minikube")
    ] = None,
    skip_build: Annotated[bool, typer.Option(help="kubernetes: use images already built")] = False,
    skip_load: Annotated[bool, typer.Option(help="kubernetes: images are already in the cluster")] = False,
    monitoring: Annotated[bool, typer.Option(help="kubernetes: install Prometheus, Grafana, Loki")] = True,
    dispatcher_url: Annotated[
        str | None,
        typer.Option(help="kubernetes: reach the dispatcher here (no Minikube URL, no port-forward)"),
    ] = None,
) -> None:
    """Bring the system up: the dispatcher and inference replicas, scaled by the HPA."""
    from mlscale.autoscaling.config import VALUES_FILE, load_hpa_config, load_values

    values_file = values or VALUES_FILE
    load_hpa_config(
        values_file,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_utilization=target_cpu,
        time_scale=time_scale,
    )  # fmt: skip  (validates early)
    request = cpu_request or str(load_values(values_file).get("inference", {}).get("resources", {})
                                 .get("requests", {}).get("cpu", "500m"))  # fmt: skip
    options = LocalOptions(
        weights=weights or "none", cpu_request=request, dispatcher_port=dispatcher_port,
        result_url=result_url, time_scale=time_scale, min_replicas=min_replicas, max_replicas=max_replicas,
        target_cpu=target_cpu, values_file=str(values_file), state_dir=str(state_dir()),
    )  # fmt: skip
    kubernetes = None
    if backend == "kubernetes":
        chart_values = {
            "autoscaling.minReplicas": min_replicas,
            "autoscaling.maxReplicas": max_replicas,
            "autoscaling.targetCPUUtilizationPercentage": target_cpu,
            "inference.resources.requests.cpu": cpu_request,
        }
        kubernetes = KubernetesOptions(
            namespace=namespace, context=kube_context, minikube=minikube, build=not skip_build,
            load=not skip_load, registry=registry, weights=_image_weights(weights), monitoring=monitoring,
            values_files=[values] if values else [], dispatcher_url=dispatcher_url,
            result_url=None if result_url == DEFAULT_RESULT_URL else result_url,  # the chart's default
            set_values={k: str(v) for k, v in chart_values.items() if v is not None},
        )  # fmt: skip
    status = backend_for(backend, options, kubernetes).up()
    console.print(status_table(status))
    if status.calibration:
        c = status.calibration
        console.print(
            f"calibration: one replica ({c['cpu_request_milli']}m CPU) costs "
            f"{c['cpu_ms_per_request']:.1f} ms "
            f"CPU per image: it serves {c['capacity_at_target_rps']:.1f} requests/s at the "
            f"{c['target_cpu_utilization']} % target, {c['max_rps']:.1f}/s flat out "
            "(`# unit: replicas` workloads are in multiples of the first)"
        )
    console.print(f"up. Next: mlscale loadtest workloads/demo.txt --dispatcher {status.dispatcher_url}")


def _image_weights(weights: str | None) -> str:
    """The kubernetes backend bakes weights into the image: imagenet (the default) or none."""
    if weights not in (None, "imagenet", "none"):
        raise InputError(
            "--backend kubernetes takes --weights imagenet or none (a file would be in the image)"
        )
    return weights or "imagenet"


def status(
    json_output: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Show the running system: replicas, readiness, CPU, the autoscaler's last decision."""
    current = backend_for().status()
    if json_output:
        typer.echo(json.dumps(current.to_json(), indent=2))
    else:
        console.print(status_table(current))
        grafana = current.extra.get("grafana")
        if grafana:
            console.print(f"Grafana: user {grafana['user']}, password {grafana['password']} "
                          f"(kubectl -n {current.extra['namespace']} port-forward svc/"
                          f"{current.extra['release']}-grafana 3000:80)")  # fmt: skip


def down(
    delete_cluster: Annotated[bool, typer.Option(help="kubernetes: also `minikube delete`")] = False,
) -> None:
    """Tear the running system down; no process is left behind."""
    current = backend_for()
    if isinstance(current, KubernetesBackend):
        current.down(delete_cluster=delete_cluster)
    else:
        current.down()
    console.print("down.")
