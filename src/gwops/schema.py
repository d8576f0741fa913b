"""Strict pydantic models for config files, and conversion of their errors into `Problem`s.

Unknown keys are rejected with a did-you-mean; every error carries file:line of the key.
"""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gwops.errors import Problem
from gwops.yamlsrc import SourceDoc

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk the model's fields along `loc` to find the model that owns the last key."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            by_alias = {f.alias: f for f in current.model_fields.values() if f.alias}
            field = by_alias.get(str(part))
        if field is None:
            continue  # dict key or list index: stay on the value type below
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside Optional[...], list[...], dict[..., ...] annotations, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _friendly(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return msg.replace("Input should be", "must be")
    if "input" in err and kind.endswith("_type"):
        return f"{msg.replace('Input should be', 'must be')} (got {type(err['input']).__name__})"
    return msg.removeprefix("Value error, ")


def validate_doc(doc: SourceDoc, model: type[M], stage: str = "schema") -> tuple[M | None, list[Problem]]:
    """Validate `doc.data` against `model`; return the instance or every problem, located."""
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        got = type(data).__name__
        return None, [
            doc.problem(
                (),
                f"top level must be a mapping of keys, got a {got}",
                f"see the example in `config/` for the expected shape of {doc.file}",
                stage,
            )
        ]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "tagged-union")))
            )
            hint = ""
            if err["type"] == "extra_forbidden":
                owner = _model_at(model, loc[:-1])
                key = str(loc[-1])
                names = field_names(owner) if owner else []
                close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
                hint = getattr(owner, "key_hints", {}).get(key) or (
                    f"did you mean `{close[0]}`?"
                    if close
                    else (f"allowed keys: {', '.join(f'`{n}`' for n in names)}" if names else "remove this key")
                )
                message = f"unknown key `{key}`"
            elif err["type"] == "missing":
                message = f"required key `{loc[-1]}` is missing"
                hint = f"add `{loc[-1]}:`"
                loc = loc[:-1]
            else:
                message = _friendly(err)
            problems.append(doc.problem(loc, message, hint, stage))
        return None, problems
