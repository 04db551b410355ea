"""The rules health score, as customer-success tools make it: a scorecard of measure groups with
weights, each measure given points by thresholds, and colour bands (health_rules.yaml, shipped,
documents the format). Gainsight's, ChurnZero's and Totango's scorecards work this way, with
weights set by hand; here the same score also faces the learned one on a back-test (health.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from parcours.errors import BadRequest
from parcours.segments.features import BY_NAME, SIGNAL_NAMES, Features

SHIPPED = Path(__file__).with_name("health_rules.yaml")
Floats = npt.NDArray[np.float64]


class Measure(BaseModel):
    """Points for one signal: by `at_least` or `at_most` thresholds, as [[threshold, points]]."""

    model_config = ConfigDict(extra="forbid")
    at_least: list[tuple[float, float]] | None = None
    at_most: list[tuple[float, float]] | None = None
    otherwise: float = 0.0
    missing: float | None = None

    @model_validator(mode="after")
    def _one_direction(self) -> Measure:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("give exactly one of at_least or at_most")
        for _, points in self.thresholds:
            if not 0 <= points <= 100:
                raise ValueError(f"points must be between 0 and 100, not {points}")
        return self

    @property
    def thresholds(self) -> list[tuple[float, float]]:
        return self.at_least if self.at_least is not None else (self.at_most or [])

    def points(self, values: Floats) -> Floats:
        """Each value's points (NaN where there is no value and no `missing` points)."""
        earned = np.full(values.shape, self.otherwise, dtype=np.float64)
        best = np.full(values.shape, -np.inf)
        for threshold, points in self.thresholds:
            reached = values >= threshold if self.at_least is not None else values <= threshold
            better = reached & (points > best)
            earned = np.where(better, points, earned)
            best = np.where(better, points, best)
        absent = np.isnan(values)
        missing = np.nan if self.missing is None else self.missing
        return np.where(absent, missing, earned)


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(gt=0)
    measures: dict[str, Measure]


class Bands(BaseModel):
    model_config = ConfigDict(extra="forbid")
    green: float = 70
    amber: float = 40


class Scorecard(BaseModel):
    """A health scorecard: groups of measures, weights, bands."""

    model_config = ConfigDict(extra="forbid")
    bands: Bands = Bands()
    groups: dict[str, Group]

    @model_validator(mode="after")
    def _known_signals(self) -> Scorecard:
        for group, spec in self.groups.items():
            for name in spec.measures:
                if name not in BY_NAME:
                    raise ValueError(
                        f"group {group!r} measures {name!r}, which is no signal; "
                        f"signals are {', '.join(SIGNAL_NAMES)}"
                    )
        return self


def load_scorecard(path: Path | str | None = None) -> Scorecard:
    """The scorecard in `path` (the shipped default when None), validated."""
    where = str(path) if path is not None else f"{SHIPPED.name} (shipped)"
    try:
        text = (Path(path) if path is not None else SHIPPED).read_text()
    except OSError as error:
        raise BadRequest(
            f"Cannot read the health scorecard {where}: {error.strerror}",
            "give the path of a YAML scorecard (copy the shipped health_rules.yaml)",
        ) from None
    try:
        return Scorecard.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise BadRequest(
            f"The health scorecard is not valid YAML: {error}", "fix the YAML", where=where
        ) from None
    except ValidationError as error:
        first = error.errors()[0]
        place = ".".join(str(p) for p in first["loc"])
        raise BadRequest(
            f"The health scorecard is not valid at {place or 'its top'}: {first['msg']}",
            "follow the format documented at the top of the shipped health_rules.yaml",
            where=where,
        ) from None


@dataclass(frozen=True)
class RulesScores:
    """The scorecard applied to customers: `score[i]` 0-100, `band[i]`, each group's score
    (`groups[group][i]`, the mean of its judged measures' points; NaN: none judged) and per
    measure its points (`points[(group, measure)][i]`, NaN: not judged)."""

    score: Floats
    band: list[str]
    groups: dict[str, Floats]
    points: dict[tuple[str, str], Floats]


def score_rules(scorecard: Scorecard, features: Features) -> RulesScores:
    """Each customer's rules score: weighted mean of group scores (mean of measure points)."""
    n = len(features)
    total, weights = np.zeros(n), np.zeros(n)
    points: dict[tuple[str, str], Floats] = {}
    groups: dict[str, Floats] = {}
    for group, spec in scorecard.groups.items():
        earned = []
        for name, measure in spec.measures.items():
            points[(group, name)] = measure.points(features.values[name])
            earned.append(points[(group, name)])
        stacked = np.vstack(earned) if earned else np.full((1, n), np.nan)
        judged = ~np.isnan(stacked)
        count = judged.sum(axis=0)
        group_score = np.where(count > 0, np.nansum(stacked, axis=0) / np.maximum(count, 1), 0)
        groups[group] = np.where(count > 0, group_score, np.nan)
        total += np.where(count > 0, spec.weight * group_score, 0)
        weights += np.where(count > 0, spec.weight, 0)
    score = np.round(np.where(weights > 0, total / np.maximum(weights, 1e-12), 0), 1)
    bands = scorecard.bands
    band = np.where(score >= bands.green, "green", np.where(score >= bands.amber, "amber", "red"))
    return RulesScores(np.asarray(score, dtype=np.float64), [str(b) for b in band], groups, points)
