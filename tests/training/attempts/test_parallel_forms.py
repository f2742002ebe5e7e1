"""Exam draws are parallel forms: every draw holds the pool's share of cases where the
instrument does not apply, its spread of reference totals and its mix of case groups (that a
retake never repeats a case is tested in test_exam_secrecy)."""

from collections import Counter

import pytest

from tests.conftest import make_member
from tests.training.helpers import make_exam
from training.attempts import exams
from training.models import Role
from vignettes.models import VignetteSetMember

pytestmark = pytest.mark.django_db


def _forms(exam, vignette_ids):
    members = list(VignetteSetMember.objects.filter(vignette_set=exam.vignette_set)
                   .select_related("vignette__current_revision"))
    strata = exams.parallel_form_strata(assignment=exam, members=members)
    return strata, Counter(strata[v].split("|")[0] for v in vignette_ids)


def test_every_draw_follows_the_pools_forms(org, instructor):
    trainees = [make_member(org, Role.TRAINEE, f"form-{i}") for i in range(4)]
    exam = make_exam(org, trainees, instructor, draw=10)
    members = list(VignetteSetMember.objects.filter(vignette_set=exam.vignette_set)
                   .select_related("vignette__current_revision"))
    strata, pool = _forms(exam, [m.vignette_id for m in members])
    assert set(pool) == {"does-not-apply", "low", "middle", "high"}
    drawn_before = set()
    for trainee in trainees:
        for _draw in range(2):
            _seed, drawn = exams.exam_draw(user=trainee, organization=org, assignment=exam,
                                           members=members)
            ids = [m.vignette_id for m in drawn]
            assert len(ids) == 10
            _s, got = _forms(exam, ids)
            for form, count in pool.items():
                expected = 10 * count / len(members)
                assert abs(got[form] - expected) <= 1, (form, got, pool)
            drawn_before |= set(ids)
    assert len(drawn_before) > 10
