"""OpenAPI 3.1 documents of mlscale's own HTTP faces: ``loadtest --serve`` and the supervisor.

Each is written by hand next to the handlers it describes and served at ``/openapi.json``;
``nox -s fuzz`` (schemathesis) holds documents and handlers together.
"""

from __future__ import annotations

from typing import Any

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Any]:
    return {str(s): json_body({"$ref": "#/components/schemas/Error"}, "a JSON error") for s in statuses}


def document(title: str, version: str, paths: dict[str, Any], schemes: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {
            **paths,
            "/openapi.json": {"get": {"responses": {"200": json_body({"type": "object"}, "this document")}}},
        },
        "components": {"schemas": {"Error": ERROR}, "securitySchemes": schemes},
    }


BEARER = {"type": "http", "scheme": "bearer"}
