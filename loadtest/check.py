"""The no-loss check: the database against the clients' ledger (Django must be set up).

Proves, for the attempts started since the seed (the seeded exam attempts and everything the
load test created):

- every draft's stored codes (and revision) equal those of its last confirmed save; a sealed
  rating's frozen codes equal them too;
- every confirmed submission is stored exactly once: the attempt is submitted, at the time the
  server answered, every rating sealed with it, one certification decision per exam attempt,
  and no attempt was confirmed twice;
- every attempt the server confirmed creating exists, and no user has more attempts than were
  confirmed (no duplicates);
- nothing is stored that the clients were never told about, unless a write of that attempt had
  an unknown outcome (5xx, timeout), which the report then lists apart.

A refused write (409 stale revision or deadline, 400) is never a confirmed one.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.ledger import read_ledgers


@dataclass
class CheckResult:
    drafts_checked: int = 0
    sealed_checked: int = 0
    submissions_checked: int = 0
    attempts_checked: int = 0
    exam_submitted: int = 0
    exam_finalised: int = 0
    exam_in_progress: int = 0
    rejected: Counter = field(default_factory=Counter)
    unknown_outcomes: int = 0
    applied_unconfirmed: list[str] = field(default_factory=list)
    discrepancies: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def check(ledger_dir: Path, *, since: dt.datetime, exam_assignment: int) -> CheckResult:
    from training.models import Attempt, AttemptStatus, CertificationDecision, Mode, Rating

    result = CheckResult()
    entries = list(read_ledgers(ledger_dir))
    unknown_attempts: set[int] = set()
    unknown_creates: Counter = Counter()
    last_state: dict[tuple, dict] = {}
    submits: dict[int, list[dict]] = defaultdict(list)
    creates: Counter = Counter()
    created_ids: set[int] = set()
    for e in entries:
        kind = e["kind"]
        if kind in ("save", "observed"):
            key = (e["attempt"], e["vignette"], e["instrument"])
            items = e["expected"] if kind == "save" else e["items"]
            state = {"revision": e["revision"], "items": items, "entry": e}
            previous = last_state.get(key)
            if previous is None or state["revision"] >= previous["revision"]:
                last_state[key] = state
            if kind == "save" and e["returned"] != e["expected"]:
                result.discrepancies.append(
                    f"attempt {e['attempt']} {e['vignette']}/{e['instrument']}: the server "
                    f"answered codes {e['returned']} to a save the client expected to give "
                    f"{e['expected']}")
        elif kind == "submit":
            submits[e["attempt"]].append(e)
        elif kind == "create":
            creates[e["user"]] += 1
            created_ids.add(e["attempt"])
        elif kind == "rejected":
            result.rejected[f"{e['op']} {e['status']} {e.get('code') or ''}".strip()] += 1
        elif kind == "unknown":
            result.unknown_outcomes += 1
            if "attempt" in e:
                unknown_attempts.add(e["attempt"])
            elif e.get("op") == "create":
                unknown_creates[e["user"]] += 1

    attempts = {
        a.pk: a for a in Attempt.objects.filter(started_at__gte=since).select_related("user")
    }
    result.attempts_checked = len(attempts)
    ratings = (
        Rating.objects.filter(attempt__in=list(attempts))
        .select_related("vignette_revision__vignette", "instrument_version__instrument")
        .prefetch_related("items__item")
    )
    stored = {}
    for r in ratings:
        key = (r.attempt_id, r.vignette_revision.vignette.slug, r.instrument_version.instrument.slug)
        stored[key] = r

    # Drafts: stored = last confirmed.
    for key, state in last_state.items():
        result.drafts_checked += 1
        where = f"attempt {key[0]} {key[1]}/{key[2]}"
        rating = stored.get(key)
        if rating is None:
            result.discrepancies.append(f"{where}: confirmed save (revision "
                                        f"{state['revision']}) not stored")
            continue
        items = {ri.item.code: ri.value for ri in rating.items.all()}
        if rating.revision > state["revision"] and key[0] in unknown_attempts:
            result.applied_unconfirmed.append(
                f"{where}: revision {rating.revision} stored, {state['revision']} confirmed "
                "(a save with an unknown outcome was applied)")
            continue
        if rating.revision != state["revision"] or items != state["items"]:
            result.discrepancies.append(
                f"{where}: stored revision {rating.revision} codes {items}; last confirmed "
                f"revision {state['revision']} codes {state['items']}")
        if state["entry"].get("applicable") and rating.applicable is not True:
            result.discrepancies.append(f"{where}: applicability confirmed as true, stored "
                                        f"{rating.applicable}")
        if rating.submitted_at is not None:
            result.sealed_checked += 1
            if rating.codes != items:
                result.discrepancies.append(f"{where}: sealed codes {rating.codes} differ from "
                                            f"the item rows {items}")
    for key, rating in stored.items():
        if key not in last_state:
            where = f"attempt {key[0]} {key[1]}/{key[2]}"
            if key[0] in unknown_attempts:
                result.applied_unconfirmed.append(f"{where}: stored without a confirmed save "
                                                  "(a save with an unknown outcome)")
            else:
                result.discrepancies.append(f"{where}: stored (revision {rating.revision}) "
                                            "but no save of it was ever confirmed")

    # Submissions: stored exactly once.
    decisions = Counter(
        CertificationDecision.objects.filter(attempt__in=list(attempts)).values_list(
            "attempt_id", flat=True)
    )
    sealed_by_attempt = defaultdict(list)
    for key, rating in stored.items():
        sealed_by_attempt[key[0]].append(rating)
    for attempt_id, confirmations in submits.items():
        result.submissions_checked += 1
        where = f"attempt {attempt_id}"
        if len(confirmations) > 1:
            result.discrepancies.append(f"{where}: submission confirmed {len(confirmations)} "
                                        "times")
        attempt = attempts.get(attempt_id)
        if attempt is None:
            result.discrepancies.append(f"{where}: confirmed submission, attempt not stored")
            continue
        if attempt.status != AttemptStatus.SUBMITTED:
            result.discrepancies.append(f"{where}: confirmed submission, stored status "
                                        f"{attempt.status}")
        confirmed_at = _parse_time(confirmations[0]["submitted_at"])
        if attempt.submitted_at != confirmed_at:
            result.discrepancies.append(f"{where}: submitted at {attempt.submitted_at}, "
                                        f"confirmed {confirmed_at}")
        for rating in sealed_by_attempt.get(attempt_id, []):
            if rating.submitted_at != attempt.submitted_at or rating.codes is None:
                result.discrepancies.append(f"{where}: rating {rating.pk} not sealed with it")
        if attempt.mode == Mode.EXAM and decisions[attempt_id] != 1:
            result.discrepancies.append(f"{where}: {decisions[attempt_id]} certification "
                                        "decisions (expected exactly 1)")
    for attempt_id, attempt in attempts.items():
        if attempt.status == AttemptStatus.SUBMITTED and attempt_id not in submits:
            if attempt_id in unknown_attempts:
                result.applied_unconfirmed.append(f"attempt {attempt_id}: submitted without a "
                                                  "confirmation (unknown outcome)")
            else:
                result.discrepancies.append(f"attempt {attempt_id}: submitted, but no "
                                            "submission was ever confirmed")
        if attempt_id not in created_ids:
            if unknown_creates[attempt.user.username]:
                result.applied_unconfirmed.append(f"attempt {attempt_id}: created without a "
                                                  "confirmation (unknown outcome)")
            else:
                result.discrepancies.append(f"attempt {attempt_id}: stored, but its creation "
                                            "was never confirmed")

    # Attempts: every confirmed creation stored, no user with more than confirmed.
    stored_per_user = Counter(a.user.username for a in attempts.values())
    for username in set(creates) | set(stored_per_user):
        confirmed, have = creates[username], stored_per_user[username]
        if have < confirmed:
            result.discrepancies.append(f"{username}: {confirmed} attempts confirmed, "
                                        f"{have} stored")
        elif have > confirmed + unknown_creates[username]:
            result.discrepancies.append(f"{username}: {have} attempts stored, only "
                                        f"{confirmed} confirmed (duplicates)")
    missing = created_ids - set(attempts)
    for attempt_id in sorted(missing):
        result.discrepancies.append(f"attempt {attempt_id}: creation confirmed, not stored")

    # The exam: one attempt per taker; its state after the deadline.
    exam = [a for a in attempts.values() if a.assignment_id == exam_assignment]
    per_taker = Counter(a.user_id for a in exam)
    for user_id, n in per_taker.items():
        if n != 1:
            result.discrepancies.append(f"exam taker {user_id}: {n} exam attempts")
    result.exam_submitted = sum(a.status == AttemptStatus.SUBMITTED for a in exam)
    result.exam_finalised = sum(a.status == AttemptStatus.FINALISED for a in exam)
    result.exam_in_progress = sum(a.status == AttemptStatus.IN_PROGRESS for a in exam)
    return result
