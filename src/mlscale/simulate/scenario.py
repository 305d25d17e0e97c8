"""What one simulation runs: the workload, the values (the chart's, a file's over them, and
``--set`` over both, as helm merges them), the policy those values choose, and the calibration."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlscale.autoscaling.config import HPAConfig, merged_values, parse_hpa_config, validate
from mlscale.autoscaling.policies import Measured, Policy, make_policy, parse_policy_settings
from mlscale.errors import InputError
from mlscale.simulate.calibration import Calibration
from mlscale.simulate.engine import Simulation
from mlscale.simulate.fluid import FluidSimulation
from mlscale.simulate.latency import LatencyTable
from mlscale.workload import (
    Arrival,
    Workload,
    per_second_counts,
    per_second_rates,
    requests_per_unit,
    schedule,
)


def apply_sets(values: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """``helm --set a.b.c=value`` on a copy: the value is read as YAML (60 is a number, true a bool)."""
    out = copy.deepcopy(values)
    for item in sets:
        key, equals, text = item.partition("=")
        if not equals or not key or any(not part for part in key.split(".")):
            raise InputError(f"--set {item!r}: write it as a.b.c=value, e.g. autoscaling.maxReplicas=10")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError as exc:
            raise InputError(f"--set {item!r}: the value is not YAML: {exc}") from exc
        node = out
        *parents, last = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return out


@dataclass(frozen=True)
class Scenario:
    workload: Workload
    rates: tuple[float, ...]
    """Requests/s of each second (a ``replicas`` workload times the calibrated capacity)."""
    arrivals: list[float]
    config: HPAConfig
    policy: Policy[Any]
    calibration: Calibration
    values: dict[str, Any]
    seed: int
    counts: tuple[int, ...] = ()
    """Requests sent in each second (what the load tester sends: the rate rounded)."""
    arrival: Arrival = Arrival.UNIFORM

    @property
    def requests(self) -> int:
        return sum(self.counts)

    def _shared(self) -> dict[str, Any]:
        """What both models take from the values and the calibration."""
        return {
            "initial_replicas": max(1, self.config.min_replicas),
            "metric_resolution": self.config.scaled(self.config.metric_resolution_seconds),
            "seed": self.seed,
            "tick_phase": self.calibration.tick_phase,
            "sample_phase": self.calibration.sample_phase,
        }

    def simulation(self) -> Simulation:
        return Simulation(self.rates, self.arrivals, self.calibration.profile, self.policy, **self._shared())

    def fluid(self, latency: LatencyTable | None = None) -> FluidSimulation:
        counts = [float(c) for c in self.counts]
        poisson = self.arrival is Arrival.POISSON
        return FluidSimulation(
            counts, self.calibration.profile, self.policy, poisson=poisson, latency=latency, **self._shared()
        )


def build(
    workload: Workload,
    calibration: Calibration,
    *,
    values_file: Path | None = None,
    sets: Sequence[str] = (),
    policy: str | None = None,
    seed: int = 1,
    arrival: Arrival = Arrival.UNIFORM,
    calibrated: dict[str, Any] | None = None,
    max_arrivals: int | None = None,
    load_scale: float = 1.0,
) -> Scenario:
    """``calibrated``: ``up``'s calibration of the calibrating run (run.json's, or a saved one's),
    which says what a ``replicas`` or ``flat-out`` workload's 1.0 is, so that the same file means
    the same load as in that run; a saved calibration without the flat-out number takes the
    model's own (one request per CPU cost). Beyond
    ``max_arrivals`` requests no per-request schedule is built (the fluid model needs none).
    ``load_scale`` multiplies the workload on top (``--scale``: the same shape, more load)."""
    values = apply_sets(merged_values(values_file), sets)
    if policy is not None:
        values = apply_sets(values, [f"autoscaling.policy={policy}"])
    config = validate(parse_hpa_config(values.get("autoscaling"), "values: autoscaling"))
    settings = parse_policy_settings(values.get("autoscaling"), config)
    profile = calibration.profile
    # The model's replica is busy one CPU cost per request: that is its flat-out capacity.
    measured = Measured(
        1 / profile.cpu_s_per_request, statistics.median(profile.service_s), profile.startup_s
    )
    chosen = make_policy(settings, config, measured)
    scale = requests_per_unit(workload, calibrated)
    if scale is None and workload.unit == "flat-out":
        scale = measured.flat_out_rps
    if scale is None:
        raise InputError(
            f"{workload.name} is in `# unit: {workload.unit}`: the calibration needs one replica's capacity"
        )
    scale *= load_scale
    rates = tuple(per_second_rates(workload, scale=scale))
    counts = tuple(per_second_counts(workload, scale=scale))
    arrivals = (
        schedule(workload, scale=scale, arrival=arrival, seed=seed)
        if max_arrivals is None or sum(counts) <= max_arrivals
        else []
    )
    return Scenario(workload, rates, arrivals, config, chosen, calibration, values, seed, counts, arrival)
