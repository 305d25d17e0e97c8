"""The autoscaling policies, side by side: ``cpu`` (the HPA), ``queue`` (KEDA), ``kpa`` (Knative)
and ``oracle`` (knows the workload). Each is pure (``base.Policy``); ``make_policy`` builds the
one values.yaml or ``--policy`` names from its settings and what ``up`` measured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlscale.autoscaling.config import HPAConfig
from mlscale.autoscaling.oracle import OracleConfig
from mlscale.autoscaling.policies.base import POLICY_NAMES, Plan, Policy, Snapshot, Step
from mlscale.autoscaling.policies.cpu import CPUPolicy
from mlscale.autoscaling.policies.kpa import KPAPolicy
from mlscale.autoscaling.policies.oracle import OraclePolicy
from mlscale.autoscaling.policies.queue import QueuePolicy
from mlscale.autoscaling.policies.settings import PolicySettings, parse_policy_settings, with_floor
from mlscale.errors import ConfigError

__all__ = ["POLICY_NAMES", "Measured", "Plan", "Policy", "PolicySettings", "Snapshot", "Step", "make_policy",
           "parse_policy_settings", "scales_to_zero", "with_floor"]  # fmt: skip

SCALED_OBJECT = "mlscale-inference"


def scales_to_zero(settings: PolicySettings) -> bool:
    """Whether the chosen policy may take the replicas to zero."""
    return {
        "cpu": False,
        "queue": settings.queue.min_replica_count == 0,
        "kpa": settings.kpa.min_scale == 0,
        "oracle": settings.oracle.min_replicas == 0,
    }[settings.name]


@dataclass(frozen=True)
class Measured:
    """What the oracle knows of the system it runs on, as ``up`` (or a calibration) measured it."""

    flat_out_rps: float
    """One replica flat out, two requests at a time."""
    service_seconds: float
    """A request's time at an idle replica."""
    startup_seconds: float | None
    """The first replica's decision to ready."""


def make_policy(settings: PolicySettings, hpa: HPAConfig, measured: Measured | None = None) -> Policy[Any]:
    """The policy to run. The oracle needs what ``up`` measured."""
    if settings.name == "cpu":
        return CPUPolicy(hpa)
    if settings.name == "queue":
        return QueuePolicy.make(settings.queue, SCALED_OBJECT, hpa.time_scale)
    if settings.name == "kpa":
        return KPAPolicy(settings.kpa, hpa.time_scale)
    oracle = settings.oracle
    startup = oracle.startup_seconds
    if startup is None and measured is not None:
        startup = measured.startup_seconds
    if measured is None or startup is None:
        raise ConfigError(
            "the oracle needs the calibration (one replica's flat-out capacity) and a measured start-up time"
        )
    config = OracleConfig(
        capacity_rps=measured.flat_out_rps * oracle.flat_out_percent / 100,
        service_seconds=measured.service_seconds,
        startup_seconds=startup,
        slo_seconds=oracle.slo_ms / 1000,
        slo_percentile=oracle.slo_percentile,
        min_replicas=oracle.min_replicas,
        max_replicas=hpa.max_replicas,
        lead_seconds=oracle.lead_seconds,
    )
    return OraclePolicy(config, hpa.time_scale)
