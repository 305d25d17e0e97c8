"""What one unit of a workload in ``replicas`` or ``flat-out`` is in requests/s on the machine at hand,
for ``loadtest``, ``compare`` and ``simulate`` alike: the user's ``--capacity``, else ``up``'s
calibration (state.json's, or the calibrating run's)."""

from __future__ import annotations

from typing import Any

from mlscale.errors import InputError
from mlscale.workload.core import UNIT_MEANINGS, Workload, requests_per_unit


def requests_per_unit_of(
    workload: Workload, capacity: float | None, calibration: dict[str, Any] | None
) -> tuple[float, str | None]:
    """Requests/s one unit is, and a line saying where that number came from (None when there is
    nothing to say: requests/s, or the user's own ``--capacity``)."""
    if workload.unit == "rps":
        return 1.0, None
    if capacity is not None:
        return capacity, None
    per_unit = requests_per_unit(workload, calibration)
    if per_unit is None:
        raise InputError(
            f"{workload.name} is in {workload.unit} (`# unit:` or --peak): run `mlscale up` first, which "
            "measures what one replica serves, or give --capacity REQUESTS_PER_S"
        )
    assert calibration is not None
    cost = calibration.get("cpu_ms_per_request")
    measured = f": {cost:.1f} ms CPU per request" if isinstance(cost, int | float) else ""
    note = (
        f"{workload.name}: 1 unit = {per_unit:.1f} requests/s ({UNIT_MEANINGS[workload.unit]}, measured "
        f"by `mlscale up`{measured})"
    )
    return per_unit, note
