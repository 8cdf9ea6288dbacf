"""The OpenAPI document, generated from the route table and the pydantic models.

3.1.0 by default (its schemas are JSON Schema, as pydantic writes them); 3.0.3 on request
(``?version=3.0``) for set-ups that only accept it, converted here: ``anyOf [X, null]`` becomes
``nullable``, ``const`` an ``enum``, and so on.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic.json_schema import models_json_schema

from gtp_remote import __version__
from gtp_remote.api import models as m

DESCRIPTION = (
    "Run commands and edit files on the servers of this gateway's inventory, over pooled SSH. "
    "Long work answers 202 with a job_id: fetch it later with getJob."
)


def build(public_url: str | None = None, version: str = "3.1") -> dict[str, Any]:
    from gtp_remote.api.routes import ROUTES

    _, schemas = models_json_schema(
        [(model, "validation") for model in m.REQUESTS] + [(model, "serialization") for model in m.RESPONSES],
        ref_template="#/components/schemas/{model}",
    )
    components = schemas.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        op: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary[:300],
            "x-openai-isConsequential": route.consequential,
            "responses": {},
        }
        if route.public:
            op["security"] = []
        params = (
            [
                {
                    "name": "job_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "The job_id a previous call returned.",
                }
            ]
            if "{job_id}" in route.path
            else []
        )
        params += [
            {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": text}
            for name, kind, text in route.query
        ]
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}}
                },
            }
        for status, model in route.responses.items():
            models = model if isinstance(model, tuple) else (model,)
            refs = [{"$ref": f"#/components/schemas/{one.__name__}"} for one in models]
            op["responses"][str(status)] = {
                "description": "Accepted: still running" if status == 202 else "OK",
                "content": {"application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}},
            }
            # OpenAPI links: an answer naming a job leads to reading and cancelling it (clients
            # and stateful fuzzers such as schemathesis follow them; tests/test_fuzz.py does).
            if all("job_id" in one.model_fields for one in models):
                op["responses"][str(status)]["links"] = {
                    target: {
                        "operationId": target,
                        "parameters": {"job_id": "$response.body#/job_id"},
                        "description": f"{verb} the job this answer names.",
                    }
                    for target, verb in (("getJob", "Read"), ("cancelJob", "Cancel"))
                    if target != route.operation_id
                }
        for status in sorted({*route.errors, *((413, 503) if route.body is not None else ())}):
            op["responses"][str(status)] = {
                "description": ERROR_TEXT[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "gtp-remote", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": public_url or "http://localhost:8787"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }
    return to_30(spec) if version.startswith("3.0") else spec


ERROR_TEXT = {
    400: "Invalid request: the message names the field",
    401: "Missing or invalid bearer token",
    403: "The token lacks the permission or server, or a policy refused the action",
    404: "Unknown server, job or file",
    409: "Conflict with the current state",
    413: "Request body over 1 MiB, or an action needing approval too large to show an approver",
    429: "Rate limited: retry after the Retry-After header",
    502: "The server is unreachable or refused us",
    503: "The audit log cannot be written (a full disk): actions are refused until it can",
    504: "Timed out before the command could start",
}


def to_30(spec: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    out["openapi"] = "3.0.3"
    out["components"]["schemas"] = {k: _schema_30(v) for k, v in out["components"]["schemas"].items()}
    return out


def _schema_30(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema_30(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _schema_30(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            node.pop(key)
            node["nullable"] = True
            if len(rest) == 1:
                if "$ref" in rest[0]:
                    node["allOf"] = rest
                else:
                    node.update(rest[0])
            else:
                node[key] = rest
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "examples" in node:
        examples = node.pop("examples")
        if isinstance(examples, list) and examples:
            node["example"] = examples[0]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    if "patternProperties" in node:  # 3.0 cannot constrain keys: the server still does
        node["additionalProperties"] = next(iter(node.pop("patternProperties").values()))
    node.pop("propertyNames", None)
    if node.get("additionalProperties") is True:
        node.pop("additionalProperties")
    return node
