"""The fault tests' data, run inside `manage.py shell` against the server's database:

    manage.py shell -c "from tests.faults.seed import seed; seed(4)"
    manage.py shell -c "from tests.faults.seed import drafts; drafts([1, 2])"

Each prints one JSON line. The bundled content must be loaded first (load_content).
"""

import json

PRACTICE = "daniel-r-009"
INSTRUMENT = "cport"


def seed(clients: int) -> None:
    """One organisation; `clients` trainees, each with an API token, a signed-in session and a
    practice attempt (one vignette, CPORT) whose draft the client will autosave."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.utils import timezone
    from django.utils.module_loading import import_string

    from training.attempts.services import attempt_start_practice
    from training.models import ApiToken, Membership, Organization, Role
    from training.tenancy import profile_for
    from vignettes.models import Instrument

    org = Organization.objects.create(name="Fault Test Service", slug="fault-test")
    item = Instrument.objects.get(slug=INSTRUMENT).current_version.items.order_by("order")[0]
    plan = []
    for i in range(clients):
        user = get_user_model().objects.create_user(username=f"fault-trainee-{i}")
        Membership.objects.create(user=user, organization=org, role=Role.TRAINEE)
        profile = profile_for(user)
        profile.active_organization = org
        profile.content_notice_seen_at = timezone.now()
        profile.save()
        session = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        attempt = attempt_start_practice(user=user, organization=org, vignette_slug=PRACTICE,
                                         instrument_slugs=[INSTRUMENT])
        plan.append({
            "client": i, "token": ApiToken.objects.create(user=user)[1],
            "session": session.session_key, "attempt": attempt.pk,
            "vignette": PRACTICE, "instrument": INSTRUMENT, "item": item.code,
        })
    print(json.dumps(plan))


def drafts(attempt_ids: list[int]) -> None:
    """What the database holds for each attempt's draft: {attempt: {revision, notes}}."""
    from training.models import Rating

    state = {
        str(r.attempt_id): {"revision": r.revision, "notes": r.notes}
        for r in Rating.objects.filter(attempt_id__in=attempt_ids)
    }
    print(json.dumps(state))
