"""The local supervisor's control API: /status, /decisions, /plan, /shutdown, /metrics, /sd."""

from __future__ import annotations

from typing import Any

from mlscale import __version__
from mlscale.contracts import BEARER, document, errors, json_body


def supervisor_document() -> dict[str, Any]:
    status = {
        "type": "object",
        "required": ["backend", "dispatcher_url", "replicas", "desired_replicas"],
        "properties": {
            "backend": {"type": "string"},
            "dispatcher_url": {"type": "string"},
            "replicas": {"type": "array", "items": {"type": "object"}},
            "desired_replicas": {"type": "integer"},
            "dispatcher": {"type": ["object", "null"]},
            "calibration": {"type": ["object", "null"]},
        },
    }
    plan = {
        "type": "object",
        "required": ["rates", "start_at"],
        "additionalProperties": False,
        "properties": {
            "rates": {
                "type": "array",
                "minItems": 1,
                "maxItems": 604800,
                "items": {"type": "number", "minimum": 0},
            },
            "start_at": {"type": "number", "description": "unix seconds of the workload's second 0"},
        },
    }
    targets = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["targets", "labels"],
            "properties": {
                "targets": {"type": "array", "items": {"type": "string"}},
                "labels": {"type": "object"},
            },
        },
    }
    return document(
        "mlscale local supervisor",
        __version__,
        {
            "/status": {
                "get": {
                    "security": [{"control": []}],
                    "responses": {"200": json_body(status, "every process"), **errors(401)},
                }
            },
            "/decisions": {
                "get": {
                    "security": [{"control": []}],
                    "responses": {
                        "200": json_body(
                            {"type": "array", "items": {"type": "object"}}, "the HPA's decisions"
                        ),
                        **errors(401),
                    },
                }
            },
            "/plan": {
                "post": {
                    "security": [{"control": []}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": plan}}},
                    "responses": {
                        "200": json_body(
                            {"type": "object", "required": ["seconds", "start_at"]}, "the plan, announced"
                        ),
                        **errors(400, 401, 413, 415),
                    },
                }
            },
            "/shutdown": {
                "post": {
                    "security": [{"control": []}],
                    "responses": {"200": json_body({"type": "object"}, "stopping"), **errors(401)},
                }
            },
            "/metrics": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    }
                }
            },
            "/sd": {"get": {"responses": {"200": json_body(targets, "Prometheus HTTP service discovery")}}},
        },
        {"control": BEARER},
    )
