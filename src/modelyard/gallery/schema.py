"""The input schema of a built-in model: its fields, and the one check every request goes through.

A field is required or optional (with a default); numbers may carry a range, text a list of choices
(matched without regard to case and answered in the declared spelling), booleans take JSON booleans
(or "true"/"false"), and an object field (``family_history``) takes booleans under known keys and
reaches the model as the count of true ones. Every problem of a request is collected and refused at
once as a 422 ``INVALID_INPUT`` whose ``details.errors`` (and ``details.fields``) name each field.
Unknown fields are ignored (``Checked.ignored`` lists them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import Unprocessable

KINDS = ("number", "integer", "string", "boolean", "object", "text")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    description: str = ""
    required: bool = False
    default: Any = None  # a value, or a function of the other (already checked) values
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # object fields: the boolean keys it may hold
    max_length: int | None = None  # text fields

    @property
    def signature_type(self) -> str:
        """The column type the registry's signature records for this field."""
        return {"object": "integer", "text": "string"}.get(self.kind, self.kind)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "required": self.required,
            "description": self.description,
        }
        if not self.required:
            out["default"] = (
                "computed: " + (self.default.__doc__ or "from other fields") if callable(self.default) else self.default
            )
        for key in ("minimum", "maximum", "max_length"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices:
            out["choices"] = list(self.choices)
        if self.keys:
            out["keys"] = list(self.keys)
        return out


@dataclass
class Checked:
    values: dict[str, Any]  # every field, defaults filled, in declaration order
    supplied: list[str]  # the fields the caller sent
    ignored: list[str] = field(default_factory=list)


class InvalidInput(Unprocessable):
    """A request that does not fit the model's input schema (422 INVALID_INPUT, fields named)."""


def check(fields: tuple[Field, ...], record: Any) -> Checked:
    """The record checked against ``fields``, with defaults filled; InvalidInput naming every bad field."""
    if not isinstance(record, dict):
        raise InvalidInput(
            "the request body must be a JSON object of the model's fields",
            details={"errors": [{"field": None, "error": "not an object"}]},
        )
    errors: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    supplied = [f.name for f in fields if record.get(f.name) is not None]
    for f in fields:
        raw = record.get(f.name)
        if raw is None or (isinstance(raw, str) and not raw.strip() and f.kind != "text"):
            if f.required:
                errors.append({"field": f.name, "error": "required"})
            continue
        try:
            values[f.name] = _convert(f, raw)
        except ValueError as exc:
            errors.append({"field": f.name, "error": str(exc), "value": _short(raw)})
    if errors:
        names = ", ".join(e["field"] for e in errors if e["field"])
        first = errors[0]
        reason = "is required" if first["error"] == "required" else first["error"]
        raise InvalidInput(
            f"invalid input: {first['field']} {reason}" + (f" (fields: {names})" if len(errors) > 1 else ""),
            details={"errors": errors, "fields": [e["field"] for e in errors]},
        )
    for f in fields:  # defaults last, so computed ones read the values sent
        if f.name not in values:
            values[f.name] = f.default(values) if callable(f.default) else f.default
    ordered = {f.name: values[f.name] for f in fields}
    known = {f.name for f in fields}
    return Checked(ordered, supplied, sorted(k for k in record if k not in known))


def _convert(f: Field, raw: Any) -> Any:
    if f.kind in ("number", "integer"):
        value = _number(raw)
        if f.kind == "integer" and value != math.floor(value):
            raise ValueError("must be a whole number")
        if f.minimum is not None and value < f.minimum:
            raise ValueError(f"must be at least {_plain(f.minimum)}")
        if f.maximum is not None and value > f.maximum:
            raise ValueError(f"must be at most {_plain(f.maximum)}")
        return int(value) if f.kind == "integer" else value
    if f.kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise ValueError("must be true or false")
    if f.kind == "object":
        if not isinstance(raw, dict):
            raise ValueError(f"must be an object of true/false values under {', '.join(f.keys)}")
        unknown = [k for k in raw if k not in f.keys]
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(f.keys)}")
        if not all(isinstance(v, bool) for v in raw.values()):
            raise ValueError("values must be true or false")
        return dict(raw)
    if not isinstance(raw, str):
        if f.kind == "text" or isinstance(raw, (dict, list, bool)):
            raise ValueError("must be text")
        raw = str(raw)
    if f.kind == "text":
        if not raw.strip():
            raise ValueError("must not be empty")
        if f.max_length is not None and len(raw) > f.max_length:
            raise ValueError(f"must be at most {f.max_length} characters (got {len(raw)})")
        return raw
    if f.choices:
        match = {c.lower(): c for c in f.choices}.get(raw.strip().lower())
        if match is None:
            raise ValueError(f"must be one of {', '.join(repr(c) for c in f.choices)}")
        return match
    return raw.strip()


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip().replace(",", ""))
        except ValueError:
            raise ValueError("must be a number") from None
    else:
        raise ValueError("must be a number")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _plain(value: float) -> Any:
    return int(value) if float(value).is_integer() else value


def _short(raw: Any) -> str:
    return str(raw)[:50]


def model_value(f: Field, value: Any) -> Any:
    """A checked value as the model's column holds it (object fields: how many keys are true)."""
    if f.kind == "object":
        return sum(1 for v in (value or {}).values() if v)
    return value
