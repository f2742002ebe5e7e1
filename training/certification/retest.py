"""Consistency with oneself: now and then a recalibration includes a case the holder already
rated in an earlier recalibration, at least six months before, and the organisation sees the
holder's test–retest agreement beside their drift status.

"Now and then" (docs/statistics.md, "Consistency with oneself (test–retest)"):
- at most one retest case per recalibration, in place of one new case (the size stays);
- over a certificate's recalibrations, at most one case in RETEST_SHARE is a retest;
- the case is one of the organisation's published recalibration-pool vignettes (never an exam
  or practice case), unchanged since (same revision, with a reference on the certificate's
  instrument version), that the holder first rated in a recalibration at least
  RETEST_MIN_AGE before, and never retested yet;
- the choice and its place among the cases are drawn with a seed of (certificate, period), so
  a recalibration is reproducible.

The retest is recorded only in RetestDraw: the holder's attempt shows it like any other case.
Selectors here read; recalibration.recalibration_assign writes the draw.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

from django.db.models import F, QuerySet

from training.models import AttemptVignette, Certificate, Organization, Rating, RetestDraw
from training.reliability.retest import Occasion, RetestAgreement, retest_agreement
from vignettes.models import ContentStatus, Pool, ReferenceScoring

# Six calendar months are 181 to 184 days; 183 days is "at least six months" for all but the
# longest stretches (July to January), which is close enough for forgetting a case.
RETEST_MIN_AGE = dt.timedelta(days=183)
RETEST_SHARE = 10  # at most one retest case in every RETEST_SHARE recalibration cases


def retest_allowed(*, cert: Certificate, size: int) -> bool:
    """Whether one more retest case keeps the certificate's retest cases at most one in
    RETEST_SHARE of its recalibration cases (this recalibration's `size` counted)."""
    drawn = AttemptVignette.objects.filter(attempt__recalibration__certificate=cert).count()
    retests = RetestDraw.objects.filter(recalibration__certificate=cert).count()
    return (retests + 1) * RETEST_SHARE <= drawn + size


def retest_candidates(*, cert: Certificate, now: dt.datetime) -> list[Rating]:
    """The holder's first ratings (one per vignette revision) of cases eligible for a retest,
    ordered by vignette slug."""
    with_reference = ReferenceScoring.objects.filter(
        instrument_version_id=cert.instrument_version_id).values("vignette_revision_id")
    retested = RetestDraw.objects.filter(
        first_rating__attempt__user_id=cert.holder_id,
        first_rating__attempt__organization_id=cert.organization_id,
    ).values("first_rating__vignette_revision_id")
    holder_ratings = Rating.objects.filter(
        attempt__user_id=cert.holder_id, attempt__organization_id=cert.organization_id,
        instrument_version_id=cert.instrument_version_id, submitted_at__isnull=False)
    firsts: dict[int, Rating] = {}
    for rating in holder_ratings.filter(
            attempt__recalibration__isnull=False,
            vignette_revision__vignette__owner_id=cert.organization_id,
            vignette_revision__vignette__pool=Pool.RECALIBRATION,
            vignette_revision__vignette__status=ContentStatus.PUBLISHED,
            vignette_revision__vignette__current_revision_id=F("vignette_revision_id"),
            vignette_revision_id__in=with_reference,
    ).exclude(vignette_revision_id__in=retested).select_related(
            "vignette_revision__vignette").order_by("submitted_at", "pk"):
        firsts.setdefault(rating.vignette_revision_id, rating)
    # Every rating of the revision counts: the first must be old enough, and a case rated
    # twice already (however it came about) is not retested again.
    counts: dict[int, int] = {}
    for revision_id in holder_ratings.filter(vignette_revision_id__in=list(firsts)).values_list(
            "vignette_revision_id", flat=True):
        counts[revision_id] = counts.get(revision_id, 0) + 1
    eligible = [r for r in firsts.values()
                if r.submitted_at <= now - RETEST_MIN_AGE and counts[r.vignette_revision_id] == 1]
    return sorted(eligible, key=lambda r: r.vignette_revision.vignette.slug)


def retest_pick(*, cert: Certificate, size: int, period: int, now: dt.datetime
                ) -> Rating | None:
    """The first rating of the case to retest in recalibration `period`, or None."""
    if size < 1 or not retest_allowed(cert=cert, size=size):
        return None
    candidates = retest_candidates(cert=cert, now=now)
    if not candidates:
        return None
    return random.Random(f"{cert.pk}:{period}:retest").choice(candidates)


def _occasion(rating: Rating) -> Occasion:
    return Occasion(applicable=rating.applicable, codes=rating.codes or {},
                    total=rating.total if rating.applicable else None)


def retest_pairs(*, holder_id: int, organization_id: int, instrument_id: int
                 ) -> list[tuple[Rating, Rating]]:
    """(first, retest) ratings of one holder's retest cases on the instrument whose retest
    was submitted, in the order drawn: the plain reading, a few queries per holder (pages and
    the API use retest_summaries)."""
    draws = list(RetestDraw.objects.filter(
        recalibration__certificate__holder_id=holder_id,
        recalibration__certificate__organization_id=organization_id,
        first_rating__instrument_version__instrument_id=instrument_id,
    ).select_related("first_rating", "recalibration").order_by("drawn_at", "pk"))
    second = {}
    for rating in Rating.objects.filter(
            attempt_id__in=[d.recalibration.attempt_id for d in draws],
            submitted_at__isnull=False):
        second[(rating.attempt_id, rating.vignette_revision_id,
                rating.instrument_version_id)] = rating
    out = []
    for draw in draws:
        first = draw.first_rating
        retest = second.get((draw.recalibration.attempt_id, first.vignette_revision_id,
                             first.instrument_version_id))
        if retest is not None:
            out.append((first, retest))
    return out


def retest_summaries(*, organization: Organization | int, certificates=None
                     ) -> dict[int, RetestAgreement]:
    """Every certificate's test–retest agreement ({certificate id: agreement}), for the
    organisation's eyes only: each holder's agreement on the certificate's instrument in this
    organisation (the same for all their certificates on it), from the pairs retest_pairs reads.

    `certificates` (a queryset, or an iterable of certificates or ids) limits the answer to
    those of them in the organisation; None = all the organisation's. Three queries whatever
    the number of certificates and pairs (certificates, draws, second ratings); the pairs are
    grouped here.
    """
    certs = Certificate.objects.filter(organization=organization)
    if isinstance(certificates, QuerySet):
        certs = certs.filter(pk__in=certificates.values("pk"))
    elif certificates is not None:
        certs = certs.filter(pk__in=[getattr(c, "pk", c) for c in certificates])
    cert_keys = list(certs.values_list("pk", "holder_id", "instrument_version__instrument_id"))

    draws = RetestDraw.objects.filter(recalibration__certificate__organization=organization)
    if certificates is not None:
        draws = draws.filter(recalibration__certificate__holder_id__in=certs.values("holder_id"))
    draw_rows = list(draws.order_by("drawn_at", "pk").values_list(
        "recalibration__certificate__holder_id", "first_rating__instrument_version__instrument_id",
        "recalibration__attempt_id", "first_rating__vignette_revision_id",
        "first_rating__instrument_version_id", "first_rating__applicable",
        "first_rating__codes", "first_rating__total"))
    second = {
        (attempt_id, revision_id, version_id): Occasion(
            applicable=applicable, codes=codes or {}, total=total if applicable else None)
        for attempt_id, revision_id, version_id, applicable, codes, total
        in Rating.objects.filter(
            attempt_id__in=draws.values("recalibration__attempt_id"), submitted_at__isnull=False,
        ).order_by("pk").values_list("attempt_id", "vignette_revision_id",
                                     "instrument_version_id", "applicable", "codes", "total")}

    pairs: dict[tuple[int, int], list[tuple[Occasion, Occasion]]] = defaultdict(list)
    for (holder_id, instrument_id, attempt_id, revision_id, version_id, applicable, codes,
         total) in draw_rows:
        retest = second.get((attempt_id, revision_id, version_id))
        if retest is not None:
            first = Occasion(applicable=applicable, codes=codes or {},
                             total=total if applicable else None)
            pairs[(holder_id, instrument_id)].append((first, retest))
    agreements: dict[tuple[int, int], RetestAgreement] = {}
    out = {}
    for pk, holder_id, instrument_id in cert_keys:
        key = (holder_id, instrument_id)
        if key not in agreements:
            agreements[key] = retest_agreement(pairs.get(key, []))
        out[pk] = agreements[key]
    return out


def certificate_retest(cert: Certificate) -> RetestAgreement:
    """The holder's test–retest agreement on the certificate's instrument (in this
    organisation), for the organisation's eyes only. Several certificates at once:
    retest_summaries."""
    return retest_summaries(organization=cert.organization_id, certificates=[cert.pk])[cert.pk]
