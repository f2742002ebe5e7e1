import pytest
import time_machine

from tests.conftest import api_for, make_member
from tests.training.helpers import EXAM_DAY, make_exam, take_and_pass
from training.models import ApiToken, Cohort, Role


@pytest.fixture
def tokens(org, rule):
    """A token for each role of North, with something real behind every route: a cohort, a
    practice attempt, and a passed exam (so certificate and decision routes answer)."""
    users = {
        "trainee": make_member(org, Role.TRAINEE, "fuzz-trainee"),
        "instructor": make_member(org, Role.INSTRUCTOR, "fuzz-instructor"),
        "org_admin": make_member(org, Role.ORG_ADMIN, "fuzz-admin"),
    }
    cohort = Cohort.objects.create(organization=org, name="Fuzz cohort")
    cohort.trainees.add(users["trainee"])
    cohort.instructors.add(users["instructor"])
    api_for(users["trainee"]).post("/api/v1/attempts/", {"vignette": "daniel-r-009",
                                                         "instrument": "cport"}, format="json")
    exam = make_exam(org, [users["trainee"]], users["instructor"])
    with time_machine.travel(EXAM_DAY, tick=False):
        take_and_pass(api_for(users["trainee"]), exam)
    return {role: ApiToken.objects.create(user=u)[1] for role, u in users.items()}
