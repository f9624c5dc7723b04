"""The OpenAPI 3.1 document, generated from the route table and the msgspec Structs the
handlers use: it cannot drift from what the server accepts."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from ringleader import __version__
from ringleader.api.routes import ROUTES
from ringleader.api.schema import TYPES, ErrorBody

_REF = "#/components/schemas/{name}"


def _ref(kind: type) -> dict[str, Any]:
    return {"$ref": _REF.format(name=kind.__name__)}


@functools.cache
def openapi_document() -> bytes:
    kinds: set[type] = {ErrorBody}
    for types in TYPES.values():
        kinds.update(k for k in (types.request, types.response, types.stream) if k is not None)
    _, components = msgspec.json.schema_components(sorted(kinds, key=lambda k: k.__name__),
                                                   ref_template=_REF)
    error = {"description": "error", "content": {"application/json": {"schema": _ref(ErrorBody)}}}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        types = TYPES[route.op]
        op: dict[str, Any] = {
            "operationId": route.op,
            "summary": route.summary,
            "description": f"Role: {route.role}.",
            "responses": {"4XX": error, "5XX": error},
        }
        params = []
        if "{name}" in route.path:
            params.append({"name": "name", "in": "path", "required": True,
                           "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]+$",
                                      "maxLength": 128}})
        for key in route.query:
            params.append({"name": key, "in": "query", "required": False,
                           "schema": {"type": "string"}})
        if params:
            op["parameters"] = params
        if types.request is not None:
            op["requestBody"] = {"required": False, "content": {
                "application/json": {"schema": _ref(types.request)}}}
        if types.response is not None:
            content = {"application/json": {"schema": _ref(types.response)}}
        elif types.stream is not None:
            content = {"text/event-stream": {"schema": {"type": "string"},
                                             "x-event-data": _ref(types.stream)}}
        elif route.stream:
            content = {"text/event-stream": {"schema": {"type": "string"}}}
        elif route.op == "metrics":
            content = {"text/plain": {"schema": {"type": "string"}}}
        else:
            content = {"application/json": {"schema": {"type": "object"}}}
        op["responses"][str(types.status)] = {"description": "ok", "content": content}
        paths.setdefault(route.path, {})[route.method.lower()] = op
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Ringleader control API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }
    return msgspec.json.encode(document)
