"""The inference service's contract, OpenAPI 3.1, served at ``GET /openapi.json``.

Written by hand next to the handlers it describes; ``nox -s fuzz`` (schemathesis) holds the two
together: every response must be a documented status with a body matching its schema.
"""

from __future__ import annotations

from typing import Any

from mlscale_inference import __version__

ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
RAW_TYPES = ("application/octet-stream", "image/jpeg", "image/png")
"""Content types of a raw image body at /infer."""
STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _json({"$ref": "#/components/schemas/Error"}, "a JSON error") for s in statuses}


def document(max_top_k: int) -> dict[str, Any]:
    prediction = {
        "type": "object",
        "required": ["label", "class_id", "score"],
        "properties": {
            "label": {"type": "string"},
            "class_id": {"type": "integer"},
            "score": {"type": "number"},
        },
    }
    answer = {
        "type": "object",
        "required": ["predictions", "model", "replica", "timings_ms"],
        "properties": {
            "predictions": {"type": "array", "items": prediction},
            "model": {"type": "string"},
            "replica": {"type": "string"},
            "timings_ms": {
                "type": "object",
                "properties": {"decode": {"type": "number"}, "infer": {"type": "number"}},
            },
        },
    }
    request = {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {
                "type": "string",
                "format": "byte",
                "contentEncoding": "base64",
                "description": "base64 JPEG or PNG (a data: URL is accepted)",
            },
            "top_k": {"type": "integer", "minimum": 1, "maximum": max_top_k, "default": 5},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "mlscale inference", "version": __version__},
        "paths": {
            "/infer": {
                "post": {
                    "summary": "Top-k ImageNet classes of one image",
                    "parameters": [
                        {
                            "name": "top_k",
                            "in": "query",
                            "required": False,
                            "description": "with a raw image body (a JSON body carries its own top_k)",
                            "schema": {"type": "integer", "minimum": 1, "maximum": max_top_k, "default": 5},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": request},
                            # The image's bytes as they are: no base64 to decode (the dispatcher sends so).
                            **{
                                kind: {"schema": {"type": "string", "format": "binary"}} for kind in RAW_TYPES
                            },
                        },
                    },
                    "responses": {
                        "200": _json(answer, "the predictions"),
                        **_errors(400, 404, 405, 413, 415, 422, 503),
                    },
                }
            },
            "/healthz": {"get": {"responses": {"200": _json(STATUS, "the process is alive")}}},
            "/readyz": {
                "get": {
                    "responses": {
                        "200": _json(STATUS, "the model is loaded and warm"),
                        "503": _json(STATUS, "loading or draining"),
                    }
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
            "/openapi.json": {"get": {"responses": {"200": _json({"type": "object"}, "this document")}}},
        },
        "components": {"schemas": {"Error": ERROR}},
    }
