"""How the inventory describes specialists and declarative CLI tools (beside ``config``, which
loads them; the ``llm`` package runs them).

A *specialist* is a model bound to a server, with the tools it may call there, the prompt template
it gets, and the policy every one of its tool calls passes through. A *CLI tool* is a command
template the model fills in with arguments (``sql``, ``kubectl``...): its arguments are validated
against the tool's JSON schema and every one of them is shell-quoted when rendered, so a model
cannot inject shell syntax through an argument.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from gtp_remote.policy import PolicyConfig
from gtp_remote.schema import INVENTORY_CONFIG

#: The tools every specialist may be given without declaring them.
BUILTIN_TOOLS = ("run_shell", "read_file", "write_file", "list_dir")
DEFAULT_TOOLS = list(BUILTIN_TOOLS)


class SqlTool(BaseModel):
    """A tool argument that is SQL: every call's statement is parsed (sqlglot) and, unless the
    specialist sets ``vars: {writable: true}``, must be exactly one read statement."""

    model_config = INVENTORY_CONFIG

    argument: str = Field(..., min_length=1, description="the parameter that holds the SQL")
    dialect: Literal["sqlite", "postgres", "mysql"]


class CliToolConfig(BaseModel):
    """``tools.NAME``: a command the model may run by filling in arguments."""

    model_config = INVENTORY_CONFIG

    description: str = Field(..., min_length=1, max_length=1000)
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON schema of the arguments (an object schema)",
    )
    command: str = Field(..., min_length=1, description="jinja2 template; every value is shell-quoted")
    vars: dict[str, Any] = Field({}, description="constants for the template, e.g. the database path")
    env: dict[str, str] = Field(
        {}, description="environment for the command, set by the owner (PGOPTIONS...), not judged"
    )
    sql: SqlTool | None = Field(None, description="the argument holding SQL, parsed and judged")
    allow: list[str] = Field(
        [], description="globs the rendered command must match (e.g. 'kubectl get *'); empty: any"
    )
    timeout: float = Field(60.0, gt=0, le=3600)

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if value.get("type") != "object":
            raise ValueError('must be a JSON schema with "type": "object"')
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"is not a valid JSON schema: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _sql_argument(self) -> CliToolConfig:
        if self.sql is not None and self.sql.argument not in self.parameters.get("properties", {}):
            raise ValueError(f"sql.argument {self.sql.argument!r} is not one of the tool's parameters")
        for key in self.env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"env keys must be variable names, got {key!r}")
        return self


class SpecialistConfig(BaseModel):
    """``specialists.NAME``: a model on a server, with its tools, prompt, policy and limits."""

    model_config = INVENTORY_CONFIG

    server: str = Field(..., min_length=1)
    description: str | None = None
    provider: str | None = Field(None, description="override the server's llm.provider")
    model: str | None = Field(None, description="override the server's llm.model")
    base_url: str | None = None
    template: str | None = Field(None, description="a jinja2 file under templates/")
    tools: list[str] = Field(default_factory=lambda: list(DEFAULT_TOOLS))
    vars: dict[str, Any] = Field({}, description="values for tool templates and the prompt")
    facts: dict[str, str] = Field(
        {}, description="name -> command run on the server; its output goes into the prompt"
    )
    policy: PolicyConfig = PolicyConfig()
    max_steps: int = Field(10, ge=1, le=100)
    timeout: float = Field(300.0, gt=0, le=86400)
    max_output_chars: int = Field(8000, ge=200, le=60000)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, description="cap on tokens per model reply")
