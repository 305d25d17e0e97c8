"""``mlscale loadtest --serve``: /runLoadTest, /storeLatency, /generateReport."""

from __future__ import annotations

from typing import Any

from mlscale import __version__
from mlscale.contracts import BEARER, document, errors, json_body
from mlscale.defaults import RESULT_PATH
from mlscale.results import DISPATCHER_OUTCOMES
from mlscale.workload import MAX_RATE

RECORD = {
    "type": "object",
    "required": ["id", "outcome", "finished_at"],
    "properties": {
        "id": {"type": "string"},
        "outcome": {"enum": list(DISPATCHER_OUTCOMES)},
        "finished_at": {"type": "number"},
    },
}


def serve_document(max_step_seconds: float, max_scale: float) -> dict[str, Any]:
    run = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "maxImages": {"type": "integer", "minimum": 1},
            "workload": {
                "oneOf": [
                    {"type": "string", "description": "rates in the workload file format, e.g. 10,15,20"},
                    {
                        "type": "array",
                        "items": {"type": "number", "minimum": 0, "maximum": MAX_RATE},
                        "minItems": 1,
                    },
                ]
            },
            "stepSeconds": {"type": "number", "minimum": 0.001, "maximum": max_step_seconds},
            "scale": {"type": "number", "minimum": 0, "maximum": max_scale},
            "arrival": {"enum": ["uniform", "poisson"]},
            "randomSeed": {"type": "integer"},
        },
    }
    progress = {"type": "object", "required": ["state"], "properties": {"state": {"type": "string"}}}
    return document(
        "mlscale loadtest --serve",
        __version__,
        {
            "/runLoadTest": {
                "get": {
                    "security": [{"serve": []}],
                    "responses": {"200": json_body(progress, "the current or last run"), **errors(401)},
                },
                "post": {
                    "security": [{"serve": []}],
                    "requestBody": {"content": {"application/json": {"schema": run}}},
                    "responses": {
                        "202": json_body(progress, "the run started"),
                        **errors(400, 401, 409, 413, 415),
                    },
                },
            },
            RESULT_PATH: {
                "post": {
                    "security": [{"result": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["records"],
                                    "properties": {"records": {"type": "array", "items": RECORD}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": json_body(
                            {
                                "type": "object",
                                "required": ["stored"],
                                "properties": {"stored": {"type": "integer"}},
                            },
                            "stored",
                        ),
                        **errors(400, 401, 413, 415, 422),
                    },
                }
            },
            "/generateReport": {
                "post": {
                    "security": [{"serve": []}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "totalRequests": {"type": "integer", "minimum": 0, "maximum": 2**53}
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": json_body({"type": "object"}, "the run's statistics (stats.json)"),
                        **errors(400, 401, 409, 413, 415),
                    },
                }
            },
            "/healthz": {"get": {"responses": {"200": json_body({"type": "object"}, "alive")}}},
        },
        {"serve": BEARER, "result": BEARER},
    )
