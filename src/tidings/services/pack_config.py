"""A pack's config: one JSON object to its users, with its secret fields sealed apart.

Properties the pack's `config_schema` marks `"secret": true` are sealed together (`SecretBox`,
purpose `pack-config`, bound to the tenant) into the `secrets` column and never appear in
`config`. Validation messages never quote a config value, since it may be a secret. Unmarking a
property as secret discards its stored value, so a secret never becomes readable.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import structlog

from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.json import JSONObject, depth_exceeds
from tidings.services.secret_box import SecretBox, SecretUnreadable
from tidings.storage import catalogue as catalogue_store

PURPOSE = "pack-config"
MAX_CONFIG_DEPTH = 32
log = structlog.get_logger(__name__)


def open_secrets(box: SecretBox, sealed: bytes | None, *, tenant_id: int, ref: str) -> JSONObject:
    """The secret config values of a pack ({} when it has none, or they cannot be opened)."""
    if sealed is None:
        return {}
    try:
        value = box.open(sealed, purpose=PURPOSE, tenant_id=tenant_id)
    except SecretUnreadable:
        log.warning("pack.secrets_unreadable", tenant_id=tenant_id, pack=ref)
        return {}
    return value if isinstance(value, dict) else {}


def next_config(
    *,
    config: JSONObject,
    secrets: JSONObject,
    schema: JSONObject | None,
    given: JSONObject | None,
    replace: bool,
) -> JSONObject:
    """The whole config after a change: `given` keys set, null ones removed, secrets kept.

    With `replace` the non-secret values not given are dropped (a definition states them all);
    otherwise `given` is a merge patch. Secrets that `schema` no longer marks are dropped.
    """
    marked = catalogue_store.secret_fields(schema)
    full = {} if replace and given is not None else dict(config)
    full.update({k: v for k, v in secrets.items() if k in marked})
    for key, value in (given or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return full


def config_problems(full: JSONObject, schema: JSONObject | None) -> list[FieldProblem]:
    """Where `full` breaks `schema`, in messages that never quote a value."""
    if depth_exceeds(full, MAX_CONFIG_DEPTH):
        return [FieldProblem("config", f"nests deeper than {MAX_CONFIG_DEPTH} levels")]
    if schema is None:
        return []
    validator = jsonschema_rs.validator_for(schema, offline=True)
    return [_config_problem(error) for error in validator.iter_errors(full)]


def _config_problem(error: jsonschema_rs.ValidationError) -> FieldProblem:
    where = ".".join(["config", *(str(p) for p in error.instance_path)])
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return FieldProblem(where, f"'{kind.property}' is required")
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        return FieldProblem(where, f"unexpected properties: {', '.join(kind.unexpected)}")
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        return FieldProblem(where, f"must be of type {' or '.join(kind.types)}")
    keyword = next((str(p) for p in reversed(error.schema_path) if isinstance(p, str)), "schema")
    return FieldProblem(where, f"does not satisfy the schema's '{keyword}' keyword")


def config_columns(
    box: SecretBox, full: JSONObject, schema: JSONObject | None, *, tenant_id: int
) -> dict[str, Any]:
    """The `config` and `secrets` columns for a whole config, checked against `schema`."""
    problems = config_problems(full, schema)
    if problems:
        raise InvalidInput.of(*problems)
    marked = catalogue_store.secret_fields(schema)
    secrets = {k: v for k, v in full.items() if k in marked}
    sealed = box.seal(secrets, purpose=PURPOSE, tenant_id=tenant_id) if secrets else None
    return {"config": {k: v for k, v in full.items() if k not in marked}, "secrets": sealed}
