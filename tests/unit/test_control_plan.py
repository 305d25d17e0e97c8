"""The supervisor's ``POST /plan``: the load tester announces its workload (the oracle reads it);
a bad body is a 4xx with a JSON body that says what was wrong, and nothing is announced."""

from __future__ import annotations

from typing import Any

import pytest

from mlscale.autoscaling.policies import Plan
from mlscale.backends.base import SystemStatus
from mlscale.backends.local.control import control_app
from tests.asgi import AppClient

TOKEN = "secret-token"


def client(announced: list[Plan]) -> AppClient:
    status = SystemStatus("local", "http://127.0.0.1:8000", [], 1, 1, 5, 70)
    app = control_app(lambda: status, lambda: None, lambda: None, TOKEN, 9, announce=announced.append)
    return AppClient(app)


def test_a_plan_is_announced() -> None:
    announced: list[Plan] = []
    response = client(announced).post("/plan", json={"rates": [0, 5.5, 10], "start_at": 1700000000.5},
                                      headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {"seconds": 3, "start_at": 1700000000.5}
    assert announced == [Plan((0.0, 5.5, 10.0), 1700000000.5)]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"rates": [1]}, "send {"),
        ({"rates": [], "start_at": 1}, "rates must be a list of 1 to"),
        ({"rates": [1, -2], "start_at": 1}, "every rate must be a finite number >= 0"),
        ({"rates": [1, True], "start_at": 1}, "every rate must be a finite number >= 0"),
        ({"rates": [1], "start_at": "soon"}, "start_at must be a number"),
        ([1, 2], "send {"),
    ],
)
def test_a_bad_plan_is_a_400_that_says_why(body: Any, said: str) -> None:
    announced: list[Plan] = []
    response = client(announced).post("/plan", json=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_plan"
    assert said in response.json()["detail"]
    assert announced == []


def test_a_plan_needs_the_control_token() -> None:
    announced: list[Plan] = []
    response = client(announced).post("/plan", json={"rates": [1], "start_at": 1})
    assert response.status_code == 401
    assert announced == []
