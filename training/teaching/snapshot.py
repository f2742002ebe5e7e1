"""A per-cohort snapshot of the frozen codes: the arrays of training.teaching.data.cohort_data
kept in the snapshot cache, so a dashboard reads its cohort without reading the ratings again.

Exact invalidation: the cache key carries a token per organisation and a token for the shared
content (instruments, items, bands, references). Anything that changes what a snapshot holds
replaces the token (training.teaching.signals): a sealed attempt, a rating saved or deleted, a
cohort's trainees, a cohort or certification rule, a renamed or deleted account, a content
change. A replaced token makes every older snapshot unreachable; it is never reused (tokens
are random, so an evicted token cannot bring back an old snapshot). Tokens live in the default
cache (shared by every server); snapshots in the "snapshots" cache (Redis in production, this
process's memory otherwise: a token still lives in the shared cache, so no server reads a
snapshot another server has outdated).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

from training.models import Cohort
from training.teaching.data import CohortData, cohort_data, pack, unpack
from vignettes.models import Instrument

FORMAT = 1  # bump when the packed layout changes
CONTENT_TOKEN = "teach-snapshot-token:content"
SNAPSHOT_SECONDS = 24 * 3600


def _org_token_key(organization_id: int) -> str:
    return f"teach-snapshot-token:org:{organization_id}"


def _tokens(organization_id: int) -> tuple[str, str]:
    tokens = caches["default"]
    keys = [CONTENT_TOKEN, _org_token_key(organization_id)]
    found = tokens.get_many(keys)
    missing = {k: uuid.uuid4().hex for k in keys if k not in found}
    if missing:
        # add(), not set(): of two servers minting a token at once, the first one wins.
        for key, value in missing.items():
            if not tokens.add(key, value, timeout=None):
                value = tokens.get(key) or value
            found[key] = value
    return found[CONTENT_TOKEN], found[_org_token_key(organization_id)]


def _replace(key: str) -> None:
    caches["default"].set(key, uuid.uuid4().hex, timeout=None)


def _replace_now_and_on_commit(key: str) -> None:
    # Now, for reads in this transaction; after the commit again, so that a snapshot another
    # request built from the data before the commit is not served afterwards.
    _replace(key)
    transaction.on_commit(lambda: _replace(key))


def forget_organization(organization_id: int) -> None:
    """Every snapshot of the organisation's cohorts is out of date."""
    _replace_now_and_on_commit(_org_token_key(organization_id))


def forget_content() -> None:
    """Every snapshot is out of date (instruments, items, bands or references changed)."""
    _replace_now_and_on_commit(CONTENT_TOKEN)


def snapshot_key(cohort: Cohort, instrument: Instrument) -> str:
    content, org = _tokens(cohort.organization_id)
    return f"teach-snapshot:{FORMAT}:{cohort.pk}:{instrument.pk}:{content}:{org}"


def cohort_snapshot(*, cohort: Cohort, instrument: Instrument) -> CohortData:
    """The cohort's ratings on the instrument: from the snapshot cache when it holds them,
    else read (training.teaching.data.cohort_data) and stored there."""
    store = caches["snapshots" if "snapshots" in settings.CACHES else "default"]
    key = snapshot_key(cohort, instrument)
    packed = store.get(key)
    if packed is not None:
        return unpack(packed, cohort=cohort, instrument=instrument)
    data = cohort_data(cohort=cohort, instrument=instrument)
    store.set(key, pack(data), timeout=SNAPSHOT_SECONDS)
    return data
