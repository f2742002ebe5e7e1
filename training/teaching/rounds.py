"""Reliability among trainees per calibration round: every trainee rates the same new
vignettes in one period, so each round is a fully crossed block of first ratings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from django.db.models import Count

from training.models import Assignment, AssignmentKind, Attempt, Cohort
from training.teaching.data import CohortData
from training.teaching.reliability import WindowReliability, reliability_cached
from vignettes.models import Instrument


@dataclass
class RoundReliability:
    assignment_id: int
    title: str
    opens_at: dt.datetime
    closes_at: dt.datetime | None
    vignettes: int  # in the round
    trainees: int  # who submitted at least one first rating in the round on this instrument
    reliability: WindowReliability


def cohort_rounds(*, cohort: Cohort, instrument: Instrument) -> list[Assignment]:
    return list(
        Assignment.objects.filter(
            cohort=cohort, kind=AssignmentKind.CALIBRATION_ROUND, instruments=instrument,
        ).order_by("opens_at", "pk")
    )


def round_reliability(data: CohortData, rounds: list[Assignment]) -> list[RoundReliability]:
    """One fixed set of queries whatever the number of rounds: the attempts of every round,
    and the vignette count of each round's set."""
    if not rounds:
        return []
    attempts: dict[int, list[int]] = {r.pk: [] for r in rounds}
    for attempt_id, assignment_id in Attempt.objects.filter(
        assignment__in=rounds
    ).values_list("id", "assignment_id"):
        attempts[assignment_id].append(attempt_id)
    sizes = _set_sizes(rounds)
    base = data.first & data.both
    masks = [base & np.isin(data.attempt, attempts[r.pk]) for r in rounds]
    results = reliability_cached(data, masks)
    out = []
    for r, mask, result in zip(rounds, masks, results, strict=True):
        out.append(RoundReliability(
            assignment_id=r.pk, title=r.title, opens_at=r.opens_at, closes_at=r.closes_at,
            vignettes=sizes.get(r.pk, 0), trainees=int(np.unique(data.trainee[mask]).size),
            reliability=result,
        ))
    return out


def _set_sizes(rounds: list[Assignment]) -> dict[int, int]:
    return dict(
        Assignment.objects.filter(pk__in=[r.pk for r in rounds])
        .annotate(n=Count("vignette_set__members")).values_list("pk", "n")
    )
