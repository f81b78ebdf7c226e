"""The request schema of a model, generated from its spec: typed fields, unknown fields rejected, no NaN or inf."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from flywheel.specs import ModelSpec


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def record_model(spec: ModelSpec) -> type[BaseModel]:
    """One record: ``entity_id`` plus every feature; nullable only where the spec says so."""
    fields: dict[str, Any] = {"entity_id": (str, Field(min_length=1, max_length=200))}
    for name in spec.features.numeric:
        kind: Any = float | None if name in spec.serving.nullable else float
        fields[name] = (kind, Field(default=None) if name in spec.serving.nullable else ...)
    for name in spec.features.categorical:
        kind = str | None if name in spec.serving.nullable else str
        fields[name] = (
            kind,
            Field(default=None, max_length=200) if name in spec.serving.nullable else Field(max_length=200),
        )
    validators = {"finite": field_validator(*spec.features.numeric)(_finite)}
    return create_model(f"{spec.name}_record", __base__=_Record, __validators__=validators, **fields)


def as_records(spec: ModelSpec, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a warehouse frame as the service's records: numbers as floats, missing values as None."""
    numeric = list(spec.features.numeric)
    frame = frame.assign(**{c: frame[c].astype("float64") for c in numeric})
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def request_model(spec: ModelSpec) -> type[BaseModel]:
    record = record_model(spec)
    return create_model(
        f"{spec.name}_request",
        __config__=ConfigDict(extra="forbid"),
        # A model built at run time from the spec: mypy cannot use a variable as a type.
        records=(list[record], Field(min_length=1, max_length=spec.serving.max_records_per_request)),  # type: ignore[valid-type]
    )


class Prediction(BaseModel):
    entity_id: str
    score: float = Field(
        description="a binary classifier: probability of the positive class; a multiclass one: probability of the "
        "decided class; a regressor: the prediction"
    )
    decision: int | str | None = Field(
        default=None,
        description="a binary classifier: 1 when score >= its business threshold; a multiclass one: the decided "
        "class; a regressor: null",
    )
    probabilities: dict[str, float] | None = Field(
        default=None, description="a multiclass classifier: every class's probability; else null"
    )
    model: str
    version: str
    alias: str


def answer_fields(score: float | list[float], decision: int | None, classes: tuple[str, ...]) -> dict[str, Any]:
    """A prediction's score, decision and probabilities as answered: a multiclass model's score is its list of
    class probabilities, answered as the decided class's name and probability and every class's probability."""
    if isinstance(score, list) and decision is not None:
        return {
            "score": score[decision],
            "decision": classes[decision],
            "probabilities": dict(zip(classes, score, strict=True)),
        }
    return {"score": score, "decision": decision}


class PredictResponse(BaseModel):
    request_id: str
    predictions: list[Prediction]
