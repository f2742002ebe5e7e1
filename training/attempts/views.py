"""The trainee's pages: practice, assignments, scoring, submission, feedback and progress."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from training import charts
from training.attempts import exams, selectors
from training.attempts import progress as progress_reads
from training.attempts import services as attempt_services
from training.attempts.forms import RatingForm
from training.exceptions import Conflict
from training.models import Assignment, AttemptStatus, Mode, Role
from training.paging import list_page, search_filter
from training.tenancy import (
    not_found_in,
    with_membership,
)
from vignettes import selectors as content_selectors
from vignettes.rendering import render_markdown


@with_membership()
@require_http_methods(["GET", "POST"])
def practice_start(request, slug):
    """Choose instruments for free practice on one vignette, then start the attempt."""
    vignette = content_selectors.practice_vignette_get(slug=slug, organization=request.organization)
    instruments = list(content_selectors.instrument_list(organization=request.organization))
    error = None
    if request.method == "POST":
        chosen = request.POST.getlist("instruments")
        try:
            attempt = attempt_services.attempt_start_practice(
                user=request.user,
                organization=request.organization,
                vignette_slug=slug,
                instrument_slugs=chosen,
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            return redirect("attempt-score", attempt_id=attempt.pk)
    return render(
        request,
        "training/practice_start.html",
        {"vignette": vignette, "instruments": instruments, "error": error},
        status=400 if error else 200,
    )


def _assignment_for_trainee(request, assignment_id) -> Assignment:
    assignment = Assignment.objects.filter(
        pk=assignment_id, organization=request.organization,
        cohort__trainees=request.user,
    ).first()
    if assignment is None:
        raise not_found_in(Assignment, organization=request.organization, pk=assignment_id)
    return assignment


@never_cache
@with_membership(Role.TRAINEE)
def exam_briefing(request, assignment_id, *, error="", status=200):
    """What the candidate reads, and the undertaking they accept, before the clock starts."""
    assignment = _assignment_for_trainee(request, assignment_id)
    if assignment.mode != Mode.EXAM:
        raise Http404
    open_attempt = selectors.attempt_list(
        user=request.user, organization=request.organization
    ).filter(assignment=assignment, status=AttemptStatus.IN_PROGRESS).first()
    if open_attempt is not None:
        return redirect("attempt-score", attempt_id=open_attempt.pk)
    return render(request, "training/exam_briefing.html", {
        "briefing": exams.exam_briefing(user=request.user, assignment=assignment),
        "error": error,
    }, status=status)


@with_membership(Role.TRAINEE)
@require_POST
def assignment_start(request, assignment_id):
    assignment = _assignment_for_trainee(request, assignment_id)
    try:
        attempt = attempt_services.attempt_start_assignment(
            user=request.user,
            organization=request.organization,
            assignment=assignment,
            vignette_slug=request.POST.get("vignette") or None,
            accept_undertaking=request.POST.get("accept_undertaking") == "yes",
        )
    except Assignment.DoesNotExist:
        raise Http404 from None
    except ValidationError as exc:
        if assignment.mode == Mode.EXAM and "accept_undertaking" in getattr(
                exc, "error_dict", {}):
            return exam_briefing(request, assignment_id, error=" ".join(exc.messages),
                                 status=400)
        messages.error(request, " ".join(exc.messages))
        return redirect("dashboard")
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("dashboard")
    return redirect("attempt-score", attempt_id=attempt.pk)


@with_membership()
def attempt_list(request):
    attempts = selectors.attempt_list(user=request.user, organization=request.organization)
    q = request.GET.get("q", "").strip()[:100]
    if q:
        attempts = attempts.filter(search_filter(q, (
            "attempt_vignettes__vignette_revision__title", "assignment__title"))).distinct()
    listing = list_page(request, attempts, keep=("q",))
    return render(request, "training/attempt_list.html",
                  {"attempts": listing.rows, "listing": listing, "q": q})


@never_cache
@with_membership()
@require_http_methods(["GET", "POST"])
def attempt_score(request, attempt_id):
    attempt = selectors.attempt_get(
        user=request.user, organization=request.organization, attempt_id=attempt_id
    )
    attempt = attempt_services.attempt_open(attempt=attempt)
    vignettes = list(attempt.attempt_vignettes.all())
    current_slug = request.GET.get("v") or request.POST.get("vignette") or (
        vignettes[0].vignette_revision.vignette.slug if vignettes else None
    )
    current = next(
        (av for av in vignettes if av.vignette_revision.vignette.slug == current_slug), None
    )
    if current is None:
        raise Http404
    errors, status = {}, 200
    if request.method == "POST":
        if not attempt.is_open:
            messages.error(request, attempt_services.closed_attempt_conflict(attempt).message)
            return redirect("attempt-score", attempt_id=attempt.pk)
        version = attempt.instrument_versions.filter(
            instrument__slug=request.POST.get("instrument", "")
        ).first()
        if version is None:
            raise Http404
        form = RatingForm(request.POST, spec=version.spec)
        if not form.is_valid():
            errors, status = form.rating_errors(), 400
        else:
            try:
                attempt_services.rating_save_draft(
                    attempt=attempt,
                    vignette=current_slug,
                    instrument=version.instrument.slug,
                    **form.rating_input(),
                )
            except Conflict as exc:
                messages.error(request, exc.message)
                return redirect(
                    f"{reverse('attempt-score', args=[attempt.pk])}?v={current_slug}")
            except ValidationError as exc:
                errors = (exc.message_dict if hasattr(exc, "error_dict")
                          else {"__all__": exc.messages})
                status = 400
            else:
                messages.success(request, _("Saved."))
                return redirect(
                    f"{reverse('attempt-score', args=[attempt.pk])}?v={current_slug}"
                    f"#rating-{version.instrument.slug}"
                )
    # Each case tab says whether the case is done: every instrument decided and scored (the
    # page's script keeps the current case's tab up to date as ratings save).
    missing = attempt_services.attempt_unscored(attempt)
    unfinished = {m["vignette"] for m in missing}
    for av in vignettes:
        av.done = av.vignette_revision.vignette.slug not in unfinished
    drafts = selectors.attempt_ratings(attempt)
    instruments = []
    for version in attempt.instrument_versions.all().prefetch_related(
        "items__allowed_values", "bands"
    ):
        draft = drafts.get((current_slug, version.instrument.slug))
        complete = not any(m["vignette"] == current_slug
                           and m["instrument"] == version.instrument.slug for m in missing)
        instruments.append({"version": version, "draft": draft, "complete": complete})
    return render(
        request,
        "training/attempt_score.html",
        {
            "attempt": attempt,
            "vignettes": vignettes,
            "current": current,
            "case_file": render_markdown(current.vignette_revision.body),
            "instruments": instruments,
            "errors": errors,
            "feedback_note": selectors.feedback_release_note(attempt),
        },
        status=status,
    )


@never_cache
@with_membership()
@require_http_methods(["GET", "POST"])
def attempt_submit(request, attempt_id):
    attempt = selectors.attempt_get(
        user=request.user, organization=request.organization, attempt_id=attempt_id
    )
    attempt = attempt_services.attempt_open(attempt=attempt)
    if not attempt.is_open:
        return redirect("attempt-feedback", attempt_id=attempt.pk)
    if request.method == "POST":
        try:
            attempt_services.attempt_submit(attempt=attempt)
        except Conflict as exc:
            messages.error(request, exc.message)
        except ValidationError:
            messages.error(request, _("Some items are not scored yet; see the list below."))
        else:
            messages.success(request, _("Submitted."))
            if attempt.mode == Mode.EXAM:
                return redirect("cert:exam-result", attempt_id=attempt.pk)
            return redirect("attempt-feedback", attempt_id=attempt.pk)
    return render(
        request,
        "training/attempt_submit.html",
        {"attempt": attempt, "missing": attempt_services.attempt_unscored(attempt)},
    )


@never_cache
@with_membership()
def attempt_feedback(request, attempt_id):
    attempt = selectors.attempt_get(
        user=request.user, organization=request.organization, attempt_id=attempt_id
    )
    attempt = attempt_services.attempt_open(attempt=attempt)
    if attempt.is_open:
        return redirect("attempt-score", attempt_id=attempt.pk)
    allowed = selectors.feedback_allowed(attempt)
    return render(
        request,
        "training/attempt_feedback.html",
        {
            "attempt": attempt,
            "allowed": allowed,
            "feedback": selectors.attempt_feedback(attempt) if allowed else [],
            "release_note": selectors.feedback_release_note(attempt),
        },
    )


@with_membership()
def progress(request):

    rows = progress_reads.trainee_progress(
        user=request.user, organization=request.organization,
        tz=request.organization.time_zone,
    )
    for row in rows:
        # Time to scale, a gap for months without ratings, and n (ratings) beside each month.
        row.chart = charts.time_chart(
            title=_("%(inst)s: item agreement with the reference, by month") % {"inst": row.name},
            x_label=_("Month"),
            y_label=_("Items agreeing (%)"),
            series=[(_("Item agreement"), charts.monthly_points([
                (p.period, None if p.item_agreement is None else 100 * p.item_agreement,
                 p.ratings)
                for p in row.over_time]))],
            y_range=(0, 100),
        )
    return render(request, "training/progress.html", {"rows": rows})
