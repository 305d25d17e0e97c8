"""The dispatcher's contract, OpenAPI 3.1, served at ``GET /openapi.json``.

Written by hand next to the handlers it describes; ``nox -s fuzz`` (schemathesis) holds the two
together: every response must be a documented status with a body matching its schema.
"""

from __future__ import annotations

from typing import Any

from mlscale_dispatcher import __version__

ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
OUTCOMES = ["ok", "error", "timeout", "dropped"]
NULLABLE_NUMBER = {"type": ["number", "null"]}
RECORD = {
    "type": "object",
    "required": ["id", "outcome", "seq", "finished_at"],
    "properties": {
        "id": {"type": "string"},
        "outcome": {"enum": OUTCOMES},
        "status": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]},
        "replica": {"type": ["string", "null"]},
        "attempts": {"type": "integer"},
        "queue_ms": NULLABLE_NUMBER,
        "infer_ms": NULLABLE_NUMBER,
        "total_ms": NULLABLE_NUMBER,
        "sent_at": NULLABLE_NUMBER,
        "enqueued_at": {"type": "number"},
        "finished_at": {"type": "number"},
        "seq": {"type": "integer"},
    },
}
UPSTREAM = {
    "type": "object",
    "required": ["url", "outstanding", "served", "failures", "cooling_down"],
    "properties": {
        "url": {"type": "string"},
        "outstanding": {"type": "integer"},
        "served": {"type": "integer"},
        "failures": {"type": "integer"},
        "cooling_down": {"type": "boolean"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _json({"$ref": "#/components/schemas/Error"}, "a JSON error") for s in statuses}


def document(id_pattern: str, max_cursor: int, page: int) -> dict[str, Any]:
    enqueue = {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {
                "type": "string",
                "format": "byte",
                "contentEncoding": "base64",
                "description": "base64 JPEG or PNG (checked as base64 only)",
            },
            "id": {"type": "string", "pattern": f"^{id_pattern}$"},
            "sent_at": {"type": "number", "description": "epoch seconds the client sent it"},
        },
    }
    stats = {
        "type": "object",
        "required": [
            "queue_depth",
            "max_queue",
            "in_flight",
            "accepted",
            "rejected",
            "outcomes",
            "upstreams",
        ],
        "properties": {
            "queue_depth": {"type": "integer"},
            "max_queue": {"type": "integer"},
            "queue_bytes": {"type": "integer", "description": "bytes of the queued images"},
            "max_queue_bytes": {"type": "integer"},
            "in_flight": {"type": "integer"},
            "busy_seconds": {
                "type": "number",
                "description": "request-seconds in flight so far: its rate is the mean concurrency",
            },
            "workers": {"type": "integer"},
            "accepted": {"type": "integer"},
            "rejected": {"type": "integer"},
            "outcomes": {"type": "object", "additionalProperties": {"type": "integer"}},
            "upstreams": {"type": "array", "items": UPSTREAM},
            "report": {"type": "object"},
            "draining": {"type": "boolean"},
            "time": {"type": "number"},
        },
    }
    health = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "mlscale dispatcher", "version": __version__},
        "paths": {
            "/enqueue": {
                "post": {
                    "summary": "Queue one image; its outcome is reported later",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": enqueue}}},
                    "responses": {
                        "202": _json(
                            {
                                "type": "object",
                                "required": ["id", "queue_depth"],
                                "properties": {"id": {"type": "string"}, "queue_depth": {"type": "integer"}},
                            },
                            "queued",
                        ),
                        **_errors(400, 405, 409, 413, 422, 429, 503),
                    },
                }
            },
            "/results": {
                "get": {
                    "summary": "Outcomes after a cursor, for a client that missed callbacks",
                    "parameters": [
                        {
                            "name": "after",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": max_cursor},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": page},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["records", "next", "truncated"],
                                "properties": {
                                    "records": {"type": "array", "items": RECORD},
                                    "next": {"type": "integer"},
                                    "truncated": {"type": "boolean"},
                                },
                            },
                            "a page of outcomes",
                        ),
                        **_errors(400, 401, 405),
                    },
                }
            },
            "/stats": {"get": {"responses": {"200": _json(stats, "the live view"), **_errors(405)}}},
            "/upstreams": {
                "put": {
                    "summary": "Replace the replica list (the backend's control token)",
                    "security": [{"control": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["upstreams"],
                                    "properties": {
                                        "upstreams": {
                                            "type": "array",
                                            "items": {"type": "string", "format": "uri"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["upstreams"],
                                "properties": {"upstreams": {"type": "array", "items": UPSTREAM}},
                            },
                            "the new list",
                        ),
                        **_errors(400, 403, 405, 413, 422),
                    },
                }
            },
            "/healthz": {"get": {"responses": {"200": _json(health, "alive"), **_errors(405)}}},
            "/readyz": {
                "get": {
                    "responses": {
                        "200": _json(health, "taking work"),
                        "503": _json(health, "draining"),
                        **_errors(405),
                    }
                }
            },
            "/metrics": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(405),
                    }
                }
            },
            "/openapi.json": {"get": {"responses": {"200": _json({"type": "object"}, "this document")}}},
        },
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {"control": {"type": "http", "scheme": "bearer"}},
        },
    }
