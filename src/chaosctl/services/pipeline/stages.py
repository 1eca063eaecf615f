"""The two stages' logic, free of HTTP: feature preparation before inference and the decision after.

Preprocess: the raw transaction rows are validated against the model's feature schema (width,
finite, within the raw range a transaction can take), winsorised (an outlier beyond `clip`
standard deviations is pulled to the bound: one absurd amount must not dominate a tree
ensemble's answer) and standardised with the feature statistics fixed at training time.
Postprocess: the model's class and top-class probability become a fraud score (the
probability of class 1), temperature-calibrated (the gradient-boosted model is over-confident
at the extremes), then a decision by two thresholds (allow / review / block) with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaosctl.stack.topology import PIPELINE_INFERENCE_MODEL as INFERENCE_MODEL
from chaosctl.stack.topology import PIPELINE_MODEL

STAGES = ("preprocess", "postprocess")
DECISIONS = ("allow", "review", "block")


class StageRejected(ValueError):
    """The input cannot go through this stage (a 422 naming what is wrong)."""


@dataclass(frozen=True)
class FeatureSchema:
    """What the inference model takes: `width` features; raw values beyond `raw_bound` are not a
    transaction (a unit or encoding error upstream), refused rather than clipped."""

    width: int = 20
    clip: float = 4.0  # in standard deviations
    raw_bound: float = 1e6
    # Training-time statistics of each feature (make_classification draws them centred and unit-scaled).
    means: tuple[float, ...] = field(default_factory=lambda: (0.0,) * 20)
    scales: tuple[float, ...] = field(default_factory=lambda: (1.0,) * 20)

    def __post_init__(self) -> None:
        if len(self.means) != self.width or len(self.scales) != self.width:
            raise ValueError("means and scales need one value per feature")
        if any(s <= 0 for s in self.scales) or self.clip <= 0:
            raise ValueError("scales and clip must be positive")


SCHEMAS: dict[str, FeatureSchema] = {INFERENCE_MODEL: FeatureSchema()}


@dataclass(frozen=True)
class Prepared:
    features: list[list[float]]
    clipped: int  # values pulled in to +-clip


def preprocess(rows: Sequence[Sequence[float]], schema: FeatureSchema) -> Prepared:
    if not rows:
        raise StageRejected("inputs: at least one row is needed")
    out: list[list[float]] = []
    clipped = 0
    for i, row in enumerate(rows):
        if len(row) != schema.width:
            raise StageRejected(f"inputs[{i}]: {len(row)} features, the model takes {schema.width}")
        feats = []
        for j, value in enumerate(row):
            if not math.isfinite(value) or abs(value) > schema.raw_bound:
                raise StageRejected(f"inputs[{i}][{j}]: {value!r} is not a raw feature value (finite, |x| <= {schema.raw_bound:g})")
            z = (value - schema.means[j]) / schema.scales[j]
            if abs(z) > schema.clip:
                clipped += 1
                z = math.copysign(schema.clip, z)
            feats.append(z)
        out.append(feats)
    return Prepared(out, clipped)


@dataclass(frozen=True)
class DecisionPolicy:
    review_at: float = 0.5
    block_at: float = 0.9
    temperature: float = 1.5  # > 1 softens the model's extreme probabilities

    def __post_init__(self) -> None:
        if not 0.0 < self.review_at <= self.block_at < 1.0 or self.temperature <= 0:
            raise ValueError("need 0 < review_at <= block_at < 1 and a positive temperature")


@dataclass(frozen=True)
class Decision:
    decision: str
    score: float
    reason: str


def calibrated(p: float, temperature: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return 1.0 / (1.0 + math.exp(-math.log(p / (1 - p)) / temperature))


def fraud_probability(output: int, confidence: float) -> float:
    """The model answers its top class and that class's probability; the score is P(class 1)."""
    if output not in (0, 1):
        raise StageRejected(f"outputs: class {output!r} is not one of the fraud model's classes (0, 1)")
    if not 0.0 <= confidence <= 1.0:
        raise StageRejected(f"confidence: {confidence!r} is not a probability")
    return confidence if output == 1 else 1.0 - confidence


def decide(outputs: Sequence[int], confidence: Sequence[float], policy: DecisionPolicy) -> list[Decision]:
    if len(outputs) != len(confidence) or not outputs:
        raise StageRejected(f"outputs ({len(outputs)}) and confidence ({len(confidence)}) must pair up, at least one")
    out = []
    for cls, conf in zip(outputs, confidence):
        score = calibrated(fraud_probability(cls, conf), policy.temperature)
        if score >= policy.block_at:
            out.append(Decision("block", score, f"score {score:.2f} >= block threshold {policy.block_at:.2f}"))
        elif score >= policy.review_at:
            out.append(Decision("review", score, f"score {score:.2f} >= review threshold {policy.review_at:.2f}"))
        else:
            out.append(Decision("allow", score, f"score {score:.2f} below review threshold {policy.review_at:.2f}"))
    return out
