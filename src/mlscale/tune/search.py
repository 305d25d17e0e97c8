"""The search: Optuna's TPE proposes a policy and its knobs, a simulation of the whole workload
scores each, cost (replica-seconds) is minimised under the SLO as a constraint.

Trials are proposed in batches of ``batch`` (``ask``), simulated in parallel, and told back in the
order they were asked: the trials and the best one depend on the seed and the batch alone, not on how
many processes ran them or which finished first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from mlscale.simulate.summary import Summary, slo_broken
from mlscale.simulate.sweep import pareto
from mlscale.tune.space import SLO, SPACES

TrialRunner = Callable[[str, dict[str, Any]], tuple[Summary, int, int, float]]
"""(policy, setting) -> its summary, SLO-broken seconds, seconds with arrivals, wall seconds."""


@dataclass(frozen=True)
class Trial:
    number: int
    policy: str
    setting: dict[str, Any]
    summary: Summary
    slo_broken_seconds: int
    feasible: bool
    wall_seconds: float
    on_front: bool = False


@dataclass(frozen=True)
class Problem:
    """What every trial simulates: the scenario's inputs (picklable: each trial builds its own)."""

    build: Callable[..., Any]
    """``scenario.build`` with the workload, calibration and values bound (a ``functools.partial``)."""
    model: Any
    slo: SLO

    def __call__(self, policy: str, setting: dict[str, Any]) -> tuple[Summary, int, int, float]:
        from mlscale.simulate import runner
        from mlscale.simulate.sweep import as_sets

        began = time.perf_counter()
        scenario = self.build(sets=as_sets(setting), policy=policy)
        simulated = runner.run(scenario, self.model, self.slo.seconds * 1000)
        seconds = simulated.seconds
        broken = int(slo_broken(seconds, self.slo.seconds * 1000, self.slo.percentile).sum())
        busy = int((seconds["arrived"] > 0).sum())
        return simulated.summary, broken, busy, time.perf_counter() - began


def propose(trial: Any, policies: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """One policy and its knobs from an Optuna trial (define-by-run: each policy its own space)."""
    policy = trial.suggest_categorical("policy", list(policies)) if len(policies) > 1 else policies[0]
    setting: dict[str, Any] = {}
    for knob in SPACES[policy]:
        if knob.integer:
            setting[knob.key] = trial.suggest_int(knob.key, int(knob.low), int(knob.high))
        else:
            value = trial.suggest_float(knob.key, knob.low, knob.high, log=knob.log)
            setting[knob.key] = round(value, 3)
    return policy, setting


def search(
    run_trial: TrialRunner,
    policies: Sequence[str],
    slo: SLO,
    *,
    budget: int,
    seed: int,
    jobs: int,
    batch: int = 8,
    progress: Callable[[int, int, Trial | None], None] = lambda i, n, best: None,
) -> list[Trial]:
    """``budget`` trials; every one, in the order asked, the Pareto front marked."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, budget))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    trials: list[Trial] = []
    pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
    try:
        while len(trials) < budget:
            asked = [study.ask() for _ in range(min(batch, budget - len(trials)))]
            proposals = [propose(t, policies) for t in asked]
            if pool is None:
                results = [run_trial(policy, setting) for policy, setting in proposals]
            else:
                results = list(pool.map(run_trial, *zip(*proposals, strict=True)))
            for optuna_trial, (policy, setting), (summary, broken, busy, wall) in zip(
                asked, proposals, results, strict=True
            ):
                excess = broken - slo.allowed(busy)
                optuna_trial.set_constraint("slo_broken_seconds_over_allowed", float(excess))  # ok at <= 0
                study.tell(optuna_trial, summary.replica_seconds)
                trials.append(Trial(len(trials), policy, setting, summary, broken, excess <= 0, wall))
            progress(len(trials), budget, best(trials))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    front = pareto([(t.summary.replica_seconds, float(t.slo_broken_seconds)) for t in trials])
    return [Trial(**{**t.__dict__, "on_front": on}) for t, on in zip(trials, front, strict=True)]


def best(trials: Sequence[Trial]) -> Trial | None:
    """The cheapest trial that meets the SLO; when none does, the one that breaks it least (then
    the cheapest of those)."""
    if not trials:
        return None
    feasible = [t for t in trials if t.feasible]
    if feasible:
        return min(feasible, key=lambda t: (t.summary.replica_seconds, t.number))
    return min(trials, key=lambda t: (t.slo_broken_seconds, t.summary.replica_seconds, t.number))


def default_jobs() -> int:
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
