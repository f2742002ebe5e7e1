"""The load test's no-loss check (loadtest/check.py) must find every kind of loss it claims to.

The seed writes exam attempts with nine confirmed saves each into a ledger; the check passes on
that, and each test then damages the database or the ledger the way a lost write, a duplicate
or a silent write would, and expects the check to name it.
"""

import datetime as dt

import pytest
from django.utils import timezone

from loadtest.check import check
from loadtest.ledger import Ledger
from loadtest.seed import seed
from training.attempts.services import attempt_start_assignment, attempt_submit, rating_save_draft
from training.models import Attempt, AttemptStatus, CertificationDecision, Rating, RatingItem


@pytest.fixture
def seeded(content, tmp_path):
    since = timezone.now() - dt.timedelta(seconds=1)
    plan = seed(trainees=1, exam_takers=2, history_ratings=0, ledger_path=tmp_path,
                log=lambda _m: None)
    return plan, since, tmp_path


def run_check(seeded):
    plan, since, folder = seeded
    return check(folder, since=since, exam_assignment=plan["exam_assignment"])


def finish_and_submit(plan, account, folder, *, confirm=True):
    """Save the last rating and submit, recording both in the ledger as the clients do."""
    attempt = Attempt.objects.get(pk=account["attempt"])
    ledger = Ledger(folder, source="test")
    saved = rating_save_draft(attempt=attempt, vignette=account["final_vignette"],
                              instrument=plan["exam_instrument"], revision=0, applicable=True,
                              items=account["final_items"])
    ledger.save(attempt=attempt.pk, user=account["username"],
                vignette=account["final_vignette"], instrument=plan["exam_instrument"],
                sent=account["final_items"], expected=account["final_items"],
                returned=account["final_items"], applicable=True,
                revision=saved.rating.revision, status=200)
    attempt = attempt_submit(attempt=attempt)
    if confirm:
        ledger.submit(attempt=attempt.pk, user=account["username"], status=200,
                      attempt_status=attempt.status,
                      submitted_at=attempt.submitted_at.isoformat())
    ledger.close()
    return attempt


def test_clean_run_passes(seeded):
    plan, _since, folder = seeded
    finish_and_submit(plan, plan["exam_takers"][0], folder)
    result = run_check(seeded)
    assert result.discrepancies == []
    assert result.drafts_checked == 2 * 10 - 1  # 9 seeded saves each, plus one final save
    assert result.submissions_checked == 1
    assert result.exam_submitted == 1 and result.exam_in_progress == 1


def test_a_confirmed_save_that_was_changed_or_lost_is_found(seeded):
    plan, _since, _folder = seeded
    attempt = plan["exam_takers"][0]["attempt"]
    item = RatingItem.objects.filter(rating__attempt_id=attempt, value__isnull=False).first()
    item.value = None if item.value else 1
    item.save()
    gone = Rating.objects.filter(attempt_id=plan["exam_takers"][1]["attempt"]).first()
    gone.delete()
    result = run_check(seeded)
    assert any(f"attempt {attempt} " in d and "last confirmed" in d
               for d in result.discrepancies)
    assert any("not stored" in d and f"attempt {gone.attempt_id} " in d
               for d in result.discrepancies)


def test_a_submission_stored_without_confirmation_or_confirmed_twice_is_found(seeded):
    plan, _since, folder = seeded
    silent = finish_and_submit(plan, plan["exam_takers"][0], folder, confirm=False)
    twice = finish_and_submit(plan, plan["exam_takers"][1], folder)
    ledger = Ledger(folder, source="again")
    ledger.submit(attempt=twice.pk, user=plan["exam_takers"][1]["username"], status=200,
                  attempt_status=twice.status, submitted_at=twice.submitted_at.isoformat())
    ledger.close()
    result = run_check(seeded)
    assert f"attempt {silent.pk}: submitted, but no submission was ever confirmed" in \
        result.discrepancies
    assert f"attempt {twice.pk}: submission confirmed 2 times" in result.discrepancies


def test_a_confirmed_submission_not_stored_and_a_missing_decision_are_found(seeded):
    plan, _since, folder = seeded
    attempt = finish_and_submit(plan, plan["exam_takers"][0], folder)
    CertificationDecision.objects.filter(attempt=attempt).delete()
    other = finish_and_submit(plan, plan["exam_takers"][1], folder)
    Attempt.objects.filter(pk=other.pk).update(status=AttemptStatus.IN_PROGRESS)
    result = run_check(seeded)
    assert f"attempt {attempt.pk}: 0 certification decisions (expected exactly 1)" in \
        result.discrepancies
    assert any(d.startswith(f"attempt {other.pk}: confirmed submission, stored status")
               for d in result.discrepancies)


def test_an_attempt_nobody_was_told_about_is_found(seeded):
    plan, _since, _folder = seeded
    from training.models import Assignment

    trainee = plan["trainees"][0]
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=trainee["id"])
    practice = Assignment.objects.get(pk=plan["practice_assignment"])
    stray = attempt_start_assignment(user=user, organization=practice.organization,
                                     assignment=practice)
    result = run_check(seeded)
    assert f"attempt {stray.pk}: stored, but its creation was never confirmed" in \
        result.discrepancies
    assert f"{user.username}: 1 attempts stored, only 0 confirmed (duplicates)" in \
        result.discrepancies
