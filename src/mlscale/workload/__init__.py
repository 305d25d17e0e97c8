"""Workloads: what load a run offers, from a rate file, a published trace, a Prometheus series or a
generator, sized to the machine at hand; one library package, each reader pure (text in, workload
out). ``source.resolve`` picks the reader and applies the window, the speed and the sizing; the
commands only parse options and call it."""

from mlscale.workload.core import (
    CALIBRATION_KEYS,
    MAX_RATE,
    UNIT_MEANINGS,
    UNITS,
    Arrival,
    Unit,
    Workload,
    fingerprint,
    per_second_counts,
    per_second_rates,
    planned_requests,
    requests_per_unit,
    schedule,
    step_counts,
)
from mlscale.workload.rates import format_rates, load_workload, parse_workload

__all__ = [
    "CALIBRATION_KEYS",
    "MAX_RATE",
    "UNITS",
    "UNIT_MEANINGS",
    "Arrival",
    "Unit",
    "Workload",
    "fingerprint",
    "format_rates",
    "load_workload",
    "parse_workload",
    "per_second_counts",
    "per_second_rates",
    "planned_requests",
    "requests_per_unit",
    "schedule",
    "step_counts",
]
