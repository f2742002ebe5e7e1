"""A simulated cohort with a planted rater model, written through the real services.

Each simulated trainee has a severity (positive = codes towards higher risk), a base error
rate, a chance of misjudging applicability, a learning rate (errors fall over time) and, for
some, a drift (severity moves after a date). Items have difficulties; one is planted as the
hardest. Attempts are started, saved and submitted with `attempt_start_practice`,
`rating_save_draft` and `attempt_submit` and an injected clock, so the history looks exactly
like real use. The same seed gives the same history.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from training.attempts.services import (
    attempt_start_assignment,
    attempt_start_practice,
    attempt_submit,
    rating_save_draft,
)
from training.models import Cohort, Membership, Organization, Role
from training.tenancy import profile_for
from vignettes.models import ContentStatus, Instrument, Pool, ReferenceScoring, Vignette


@dataclass
class PlantedRater:
    username: str
    severity: float
    error_rate: float
    applicability_error: float
    learning: float
    drift_start: str | None = None
    drift_shift: float = 0.0
    # The severity each rating was actually made with, averaged over the trainee's ratings
    # (differs from `severity` only for drifting trainees): what a dashboard can estimate.
    effective_severity: float = 0.0


@dataclass
class PlantedTruth:
    seed: int
    start: str
    months: int
    instruments: list[str]
    vignettes: list[str]
    item_difficulty: dict[str, float]
    hardest_item: dict[str, str]
    most_lenient: str
    most_severe: str
    raters: list[PlantedRater] = field(default_factory=list)
    ratings: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _code(value, allowed: list[int], *, p_error: float, severity: float, rng) -> int:
    """The trainee's code for an item whose reference code is `value`.

    Severity is systematic: with probability growing with |severity| the code moves one step
    towards higher risk (severe) or lower risk (lenient) where the scale has room. Other
    errors (item difficulty, inattention) move one step either way.
    """
    index = allowed.index(value)
    if rng.random() < min(0.6, abs(severity) * 0.5):
        step = 1 if severity > 0 else -1
        if 0 <= index + step < len(allowed):
            return allowed[index + step]
        return value
    if rng.random() < p_error:
        neighbours = [j for j in (index - 1, index + 1) if 0 <= j < len(allowed)]
        return allowed[rng.choice(neighbours)]
    return value


@transaction.atomic
def _ensure_trainees(organization, cohort, count, prefix, password):
    User = get_user_model()
    hashed = make_password(password)
    users = []
    for i in range(1, count + 1):
        username = f"{prefix}{i}"
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.org"}
        )
        if created:
            user.password = hashed
            user.save(update_fields=["password"])
        Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": Role.TRAINEE}
        )
        profile = profile_for(user)
        if profile.active_organization_id is None:
            profile.active_organization = organization
            profile.save(update_fields=["active_organization"])
        cohort.trainees.add(user)
        users.append(user)
    return users


def simulate_cohort(
    *,
    organization: Organization,
    cohort: Cohort,
    trainees: int,
    vignettes: int,
    months: int,
    seed: int,
    start: dt.datetime,
    instruments: list[str] | None = None,
    ratings_per_trainee: int | None = None,
    username_prefix: str = "sim-trainee-",
    password: str = "calibrate-demo",
    users: list | None = None,
) -> PlantedTruth:
    rng = random.Random(seed)
    instrument_slugs = instruments or ["cport", "static-99r", "stable-2007"]
    versions = {
        i.slug: i.current_version
        for i in Instrument.objects.bundled().filter(slug__in=instrument_slugs)
        .select_related("current_version")
    }
    pool = list(
        Vignette.objects.bundled()
        .filter(pool=Pool.PRACTICE, status=ContentStatus.PUBLISHED)
        .order_by("slug")
    )
    rng.shuffle(pool)
    chosen = sorted(pool[:vignettes], key=lambda v: v.slug)
    references = _references(chosen, versions)
    allowed = _allowed(versions)
    # Item difficulty: most items easy, a few hard, one (per instrument) hardest.
    difficulty = {}
    hardest = {}
    for slug, version in versions.items():
        codes = [item.code for item in version.items.all()]
        for code in codes:
            difficulty[code] = round(rng.uniform(0.03, 0.12), 3)
        for code in rng.sample(codes, k=min(2, len(codes))):
            difficulty[code] = round(rng.uniform(0.2, 0.3), 3)
        hardest[slug] = rng.choice(codes)
        difficulty[hardest[slug]] = 0.45

    users = users or _ensure_trainees(organization, cohort, trainees, username_prefix, password)
    end = start + dt.timedelta(days=30 * months)
    raters = []
    for user in users:
        drift = rng.random() < 0.15
        raters.append(
            PlantedRater(
                username=user.username,
                severity=round(rng.gauss(0, 0.35), 3),
                error_rate=round(rng.uniform(0.0, 0.08), 3),
                applicability_error=round(rng.uniform(0.0, 0.08), 3),
                learning=round(rng.uniform(0.2, 0.7), 3),
                drift_start=(start + (end - start) * rng.uniform(0.5, 0.7)).isoformat()
                if drift
                else None,
                drift_shift=round(rng.choice([-1, 1]) * rng.uniform(0.6, 0.9), 3)
                if drift
                else 0.0,
            )
        )
    # One clearly lenient and one clearly severe trainee, neither drifting, so the dashboards
    # have a known answer to find.
    if len(raters) >= 3:
        lenient, severe = rng.sample(raters, k=2)
        low = min(r.severity for r in raters)
        high = max(r.severity for r in raters)
        lenient.severity, lenient.drift_start, lenient.drift_shift = round(low - 0.3, 3), None, 0.0
        severe.severity, severe.drift_start, severe.drift_shift = round(high + 0.3, 3), None, 0.0
    truth = PlantedTruth(
        seed=seed,
        start=start.isoformat(),
        months=months,
        instruments=instrument_slugs,
        vignettes=[v.slug for v in chosen],
        item_difficulty=difficulty,
        hardest_item=hardest,
        most_lenient="",
        most_severe="",
        raters=raters,
    )
    per_trainee = ratings_per_trainee or len(chosen)
    # The cohort works through the cases in a common order, as it would through assignments:
    # case k falls around the same weeks for everyone (so crossed subsets exist in each month),
    # each trainee skips some, and repeats come at random later.
    schedule = list(chosen)
    rng.shuffle(schedule)
    span = end - start
    jitter = dt.timedelta(days=10)
    total = 0
    for user, rater in zip(users, raters, strict=True):
        taken = sorted(rng.sample(range(len(schedule)), k=min(per_trainee, len(schedule))))
        plan = []
        for k in taken:
            when = start + span * ((k + 0.5) / len(schedule)) + jitter * rng.uniform(-1, 1)
            plan.append((min(max(when, start), end), schedule[k]))
        for _ in range(max(0, per_trainee - len(schedule))):
            plan.append((start + span * rng.random(), rng.choice(schedule)))
        plan.sort(key=lambda p: p[0])
        rater.effective_severity = round(
            sum(_severity_at(rater, when) for when, _v in plan) / max(1, len(plan)), 4
        )
        for when, vignette in plan:
            total += _one_attempt(
                user=user, organization=organization, vignette=vignette, when=when,
                versions=versions, references=references, allowed=allowed,
                difficulty=difficulty, rater=rater, start=start, end=end, rng=rng,
            )
    truth.ratings = total
    truth.most_lenient = min(raters, key=lambda r: r.effective_severity).username
    truth.most_severe = max(raters, key=lambda r: r.effective_severity).username
    return truth


def _allowed(versions) -> dict:
    """slug -> item code -> (allowed values, may be omitted), for the simulated raters."""
    return {
        slug: {
            item.code: (sorted(v.value for v in item.allowed_values.all()), item.may_omit)
            for item in version.items.prefetch_related("allowed_values")
        }
        for slug, version in versions.items()
    }


def _references(vignettes, versions) -> dict:
    out = {}
    for vignette in vignettes:
        for slug, version in versions.items():
            out[(vignette.slug, slug)] = (
                ReferenceScoring.objects.filter(
                    vignette_revision=vignette.current_revision, instrument_version=version
                ).order_by("-number").first()
            )
    return out


def simulate_rounds(*, organization: Organization, rounds: list, users: list,
                    truth: PlantedTruth, seed: int, progress: float | None = None) -> int:
    """Every trainee rates every vignette of each calibration round (the assignments, oldest
    first) within its period, through the real services. Planted improvement: at `progress`
    p (0 for the first round, 1 for the last; by default k / (R - 1)), each trainee's error
    rate is scaled by 1.4 - 1.2 p (0.5 + learning) and their severity by 1 - 0.75 p (the
    rounds calibrate them), so reliability among trainees rises round by round. Returns the
    ratings written."""
    rng = random.Random(seed)
    raters = {r.username: r for r in truth.raters}
    total = 0
    for k, assignment in enumerate(rounds):
        versions = {
            i.slug: i.current_version
            for i in assignment.instruments.select_related("current_version")
        }
        allowed = _allowed(versions)
        vignettes = [m.vignette for m in assignment.vignette_set.members.select_related(
            "vignette__current_revision").order_by("order")]
        references = _references(vignettes, versions)
        at = progress if progress is not None else k / max(1, len(rounds) - 1)
        span = (assignment.closes_at - assignment.opens_at) * 0.8
        for user in users:
            rater = raters[user.username]
            # Early rounds err more than the history's first months did; later ones much less.
            learning = 1.4 - 1.2 * at * (0.5 + rater.learning)
            for vignette in vignettes:
                when = assignment.opens_at + span * rng.random()
                total += _one_attempt(
                    user=user, organization=organization, vignette=vignette, when=when,
                    versions=versions, references=references, allowed=allowed,
                    difficulty=truth.item_difficulty, rater=rater,
                    start=assignment.opens_at, end=assignment.closes_at, rng=rng,
                    assignment=assignment, learning=max(0.05, learning),
                    severity_scale=1 - 0.75 * at,
                )
    return total


def _severity_at(rater: PlantedRater, when: dt.datetime) -> float:
    if rater.drift_start and when >= dt.datetime.fromisoformat(rater.drift_start):
        return rater.severity + rater.drift_shift
    return rater.severity


def _one_attempt(*, user, organization, vignette, when, versions, references, allowed,
                 difficulty, rater, start, end, rng, assignment=None, learning=None,
                 severity_scale=1.0) -> int:
    progress = (when - start) / (end - start)
    if learning is None:
        learning = 1 - rater.learning * progress
    severity = _severity_at(rater, when) * severity_scale
    if assignment is not None:
        attempt = attempt_start_assignment(
            user=user, organization=organization, assignment=assignment,
            vignette_slug=vignette.slug, accept_undertaking=True, now=when,
        )
    else:
        attempt = attempt_start_practice(
            user=user, organization=organization, vignette_slug=vignette.slug,
            instrument_slugs=list(versions), now=when,
        )
    saved_at = when
    for slug in versions:
        ref = references[(vignette.slug, slug)]
        applicable = ref.applicable
        if rng.random() < rater.applicability_error * learning:
            applicable = not applicable
        body_items = {}
        if applicable:
            ref_states = ref.item_states() if ref.applicable else {}
            for code, (values, omissible) in allowed[slug].items():
                # Where the reference says "not applicable", a mistaken trainee codes the
                # lowest-risk values.
                value = ref_states.get(code) if ref.applicable else min(values, key=abs)
                if value is None:
                    body_items[code] = None if omissible else values[0]
                    continue
                p_error = min(0.9, (difficulty[code] + rater.error_rate) * learning)
                body_items[code] = _code(value, values, p_error=p_error, severity=severity,
                                         rng=rng)
        saved_at = saved_at + dt.timedelta(minutes=rng.randint(3, 15))
        rating_save_draft(
            attempt=attempt, vignette=vignette.slug, instrument=slug, revision=0,
            applicable=applicable, items=body_items, notes=_notes(body_items, ref, rng),
            rationale="Simulated rationale.", now=saved_at,
        )
    attempt_submit(attempt=attempt, now=saved_at + dt.timedelta(minutes=1))
    return len(versions)


NOTES = (
    "Relied on the police record for the date.",
    "Unsure whether the withdrawn charge counts.",
    "Scored from the pre-sentence report.",
    "Self-report only; not counted.",
)


def _notes(items, ref, rng):
    if not items or rng.random() > 0.2:
        return {}
    code = rng.choice(sorted(items))
    return {code: rng.choice(NOTES)}


def write_truth(truth: PlantedTruth, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(truth.to_json(), encoding="utf-8")
