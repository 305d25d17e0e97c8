"""``mlscale up / status / down``: thin; ``mlscale.backends`` does the work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlscale import defaults
from mlscale.autoscaling.policies.base import PolicyName
from mlscale.backends import BackendName, ClusterChoice, SystemStatus, UpOptions, open_backend
from mlscale.backends.base import EngineName
from mlscale.cli_console import console
from mlscale.cli_params import choices, http_url
from mlscale.cli_tables import terminal_table

STATUS_HEADER = ("process", "address", "pid", "state", "restarts", "CPU m", "CPU %")
STATUS_LEGEND = "CPU m: millicores over the last metric window; CPU %: of the replica's CPU request"


def _address(url: str) -> str:
    return url.removeprefix("http://")


def status_table(status: SystemStatus) -> Table:
    rows = []
    if status.dispatcher is not None:
        health = status.dispatcher
        pid = str(health.pid) if health.alive else f"{health.pid} (exit {health.last_exit})"
        state = "exited" if not health.alive else "ready" if health.ready else "starting"
        rows.append(
            ["dispatcher", _address(status.dispatcher_url), pid, state, str(health.restarts), "–", "–"]
        )
    for replica in status.replicas:
        rows.append([
            replica.id, _address(replica.url), "–" if replica.pid is None else str(replica.pid),
            replica.state if replica.alive else "exited", str(replica.restarts),
            f"{replica.cpu_milli:.0f}" if replica.cpu_milli is not None else "–",
            f"{replica.cpu_utilization:.0f}" if replica.cpu_utilization is not None else "–",
        ])  # fmt: skip
    decision = status.last_decision or {}
    legend = (
        f"replicas {status.ready_replicas} ready of {len(status.replicas)}, "
        f"desired {status.desired_replicas} (policy {status.policy}, min {status.min_replicas}, "
        f"max {status.max_replicas}, CPU target {status.target_cpu_utilization} %)"
        + (f" · time scale {status.time_scale:g}" if status.time_scale != 1 else "")
        + (f" · last decision: {decision.get('reason')}" if decision else "")
        + f"\n{STATUS_LEGEND}"
    )
    title = f"{status.backend} system · dispatcher {status.dispatcher_url}"
    return terminal_table(title, STATUS_HEADER, rows, text=["process", "address", "state"], legend=legend)


LOCAL, KUBERNETES, AUTOSCALING, IMAGES = (
    "Local backend",
    "Kubernetes backend",
    "Autoscaling",
    "Images and model",
)


def up(
    backend: Annotated[
        BackendName, typer.Option(metavar=choices(BackendName), help="where the replicas run")
    ] = BackendName.LOCAL,
    result_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            callback=http_url,
            help=f"where the dispatcher posts outcomes \\[local: {defaults.RESULT_URL}; kubernetes: "
            "the chart's]",
        ),
    ] = None,
    dispatcher_port: Annotated[
        int,
        typer.Option(
            min=1, max=65535, metavar="PORT", help="the dispatcher's port on 127.0.0.1", rich_help_panel=LOCAL
        ),
    ] = defaults.DISPATCHER_PORT,
    max_starting: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="replicas starting at once, the rest wait (0: no limit)",
            rich_help_panel=LOCAL,
        ),
    ] = 1,
    policy: Annotated[
        PolicyName | None,
        typer.Option(
            metavar=choices(PolicyName),
            help="what scales: cpu (the HPA), queue (KEDA), kpa (Knative), oracle \\[values.yaml]",
            rich_help_panel=AUTOSCALING,
        ),
    ] = None,
    min_replicas: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="the policy's fewest replicas (minReplicas, ...)",
            rich_help_panel=AUTOSCALING,
        ),
    ] = None,
    max_replicas: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="the most replicas (maxReplicas)", rich_help_panel=AUTOSCALING),
    ] = None,
    target_cpu: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="PERCENT",
            help="the CPU target, percent of the request",
            rich_help_panel=AUTOSCALING,
        ),
    ] = None,
    cpu_request: Annotated[
        str | None,
        typer.Option(
            metavar="CPU",
            help="each replica's CPU request, e.g. 500m \\[values.yaml]",
            rich_help_panel=AUTOSCALING,
        ),
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option(
            metavar="X", help="multiply every period and window (0 < x <= 1)", rich_help_panel=AUTOSCALING
        ),
    ] = 1.0,
    values: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="a Helm values file with an autoscaling section", rich_help_panel=AUTOSCALING
        ),
    ] = None,
    engine: Annotated[
        EngineName | None,
        typer.Option(
            metavar=choices(EngineName),
            help="what runs the model: keras, or its export to litert or onnx \\[values.yaml]",
            rich_help_panel=IMAGES,
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            metavar="imagenet|none|FILE",
            help="the model's weights; none: random, same CPU \\[local: none; kubernetes: imagenet]",
            rich_help_panel=IMAGES,
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            metavar="HOST", help="kubernetes: push the images here, not into Minikube", rich_help_panel=IMAGES
        ),
    ] = None,
    containerd: Annotated[
        str | None,
        typer.Option(
            metavar="SOCKET",
            help="kubernetes: import the images into this node's containerd (as `kind load` does)",
            rich_help_panel=IMAGES,
        ),
    ] = None,
    skip_build: Annotated[
        bool,
        typer.Option(
            "--skip-build", metavar="", help="kubernetes: use images already built", rich_help_panel=IMAGES
        ),
    ] = False,
    skip_load: Annotated[
        bool,
        typer.Option(
            "--skip-load",
            metavar="",
            help="kubernetes: the images are in the cluster already",
            rich_help_panel=IMAGES,
        ),
    ] = False,
    kube_context: Annotated[
        str | None, typer.Option(metavar="NAME", help="the kubeconfig context", rich_help_panel=KUBERNETES)
    ] = None,
    namespace: Annotated[
        str, typer.Option(metavar="NAME", help="the namespace", rich_help_panel=KUBERNETES)
    ] = "mlscale",
    minikube: Annotated[
        bool, typer.Option(metavar="", help="the cluster is Minikube", rich_help_panel=KUBERNETES)
    ] = True,
    monitoring: Annotated[
        str,
        typer.Option(
            metavar="stack|prometheus|off",
            help="stack: the Prometheus and Grafana, Loki and promtail subcharts (fetched by helm); "
            "prometheus: the chart's own Prometheus, nothing fetched; off: none",
            rich_help_panel=KUBERNETES,
        ),
    ] = "stack",
    no_monitoring: Annotated[
        bool, typer.Option("--no-monitoring", help="the same as --monitoring off", hidden=True)
    ] = False,
    dispatcher_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            callback=http_url,
            help="reach the dispatcher here, not by Minikube or a port-forward",
            rich_help_panel=KUBERNETES,
        ),
    ] = None,
    expose: Annotated[
        str,
        typer.Option(
            metavar="port-forward|node-port",
            help="off Minikube: reach the dispatcher by kubectl port-forward, or at a node's port "
            "(the path to load-test through)",
            rich_help_panel=KUBERNETES,
        ),
    ] = "port-forward",
) -> None:
    """Bring the system up: the dispatcher and inference replicas, scaled by the chosen policy."""
    options = UpOptions(
        backend=backend, weights=weights, cpu_request=cpu_request, min_replicas=min_replicas,
        max_replicas=max_replicas, target_cpu=target_cpu, time_scale=time_scale,
        dispatcher_port=dispatcher_port, result_url=result_url, values=values,
        policy=policy.value if policy else None, max_starting=max_starting or None,
        engine=engine.value if engine else None,
        cluster=ClusterChoice(
            context=kube_context, namespace=namespace, minikube=minikube, registry=registry,
            containerd=containerd, build=not skip_build, load=not skip_load,
            monitoring="off" if no_monitoring else monitoring,
            dispatcher_url=dispatcher_url, expose=expose,
        ),
    )  # fmt: skip
    status = open_backend(options, console).up()
    console.print(status_table(status))
    if status.calibration:
        c = status.calibration
        flat_out = c.get("flat_out_rps")
        console.print(
            f"calibration: one replica ({c['cpu_request_milli']}m CPU) costs "
            f"{c['cpu_ms_per_request']:.1f} ms CPU per image: it serves "
            f"{c['capacity_at_target_rps']:.1f} requests/s at the {c['target_cpu_utilization']} % target "
            "(`# unit: replicas`)"
            + (f", {flat_out:.1f}/s flat out, two at a time (`# unit: flat-out`)" if flat_out else "")
        )
    console.print(f"up. Next: mlscale loadtest workloads/demo.txt --dispatcher {status.dispatcher_url}")


def status(
    json_output: Annotated[bool, typer.Option("--json", metavar="", help="print JSON for scripts")] = False,
) -> None:
    """Show the running system: replicas, readiness, CPU, the autoscaler's last decision."""
    current = open_backend(console=console).status()
    if json_output:
        typer.echo(json.dumps(current.to_json(), indent=2))
        return
    console.print(status_table(current))
    dashboard = current.cluster.dashboard if current.cluster else None
    if current.cluster and current.cluster.prometheus:
        console.print(f"Prometheus: http://127.0.0.1:9090 after `{current.cluster.prometheus}`")
    if dashboard:
        console.print(
            f"{dashboard.name}: user {dashboard.user}, password {dashboard.password} ({dashboard.reach})"
        )


def down(
    delete_cluster: Annotated[
        bool, typer.Option(metavar="", help="kubernetes: also `minikube delete`")
    ] = False,
) -> None:
    """Tear the running system down; no process is left behind."""
    open_backend(console=console).down(delete_cluster=delete_cluster)
    console.print("down.")
