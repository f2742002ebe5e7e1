"""The dashboards recover what the simulator planted: the known truth read back off the pages.

Runs `simulate_cohort --trainees 40 --vignettes 30 --months 6 --seed 1` exactly as documented
(about a minute on SQLite: 3,600 ratings written through the services) and reads the answers
off the instructor's dashboard page.
"""

import json
import re

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import browser_for, make_member
from training.models import Cohort, Organization, Role
from training.teaching import data as teaching_data
from training.teaching import trainees as trainee_stats
from vignettes.models import Instrument

pytestmark = pytest.mark.django_db


def test_dashboard_recovers_the_planted_truth(content, tmp_path):
    truth_path = tmp_path / "truth.json"
    call_command("simulate_cohort", "--trainees", "40", "--vignettes", "30", "--months", "6",
                 "--seed", "1", "--truth", str(truth_path), "--force")
    truth = json.loads(truth_path.read_text())
    org = Organization.objects.get(slug="simulated-service")
    cohort = Cohort.objects.get(organization=org, name="Simulated cohort (seed 1)")
    instructor = make_member(org, Role.INSTRUCTOR, "truth-instructor")
    cohort.instructors.add(instructor)
    client = browser_for(instructor)
    planted = {r["username"]: r["effective_severity"] for r in truth["raters"]}
    for slug in truth["instruments"]:
        html = client.get(f"/teach/cohorts/{cohort.pk}/?instrument={slug}").content.decode()
        hardest = re.search(r'id="hardest-item">(\S+) ', html).group(1)
        lenient = re.search(r'id="most-lenient">([^<]+)<', html).group(1)
        assert hardest == truth["hardest_item"][slug], slug
        assert lenient == truth["most_lenient"], slug
        data = teaching_data.cohort_data(cohort=cohort, instrument=Instrument.objects.get(slug=slug))
        rows = trainee_stats.trainee_rows(data, now=timezone.now())
        estimated = [r.deviation.value for r in rows]
        r = np.corrcoef(estimated, [planted[row.username] for row in rows])[0, 1]
        assert r >= 0.9, (slug, r)
