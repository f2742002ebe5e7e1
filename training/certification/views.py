"""Certification pages: the trainee's certificates and requirements, the org admin's rules,
candidates, exams, decisions and certificates, and the public verification page. Thin."""

from __future__ import annotations

import segno
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.throttling import client_address
from training.attempts import exams
from training.attempts import selectors as attempt_selectors
from training.attempts import services as attempt_services
from training.certification import certificates as certificate_services
from training.certification import decisions, dstudy, exposure, rules
from training.certification.credentials import badges
from training.certification.filters import CertificateRegisterQuerySerializer
from training.exceptions import Conflict
from training.models import Assignment, CertificationRule, FeedbackPolicy, Mode, Role
from training.paging import list_page
from training.teaching.exports import csv_lines
from training.tenancy import not_found_in, with_membership
from vignettes import selectors as content_selectors

# --- trainee -------------------------------------------------------------------------------


@never_cache
@with_membership()
def overview(request):
    context = decisions.trainee_overview(user=request.user, organization=request.organization)
    return render(request, "training/cert/overview.html", context)


@never_cache
@with_membership()
def certificate_detail(request, certificate_id):
    cert = certificate_services.certificate_for_viewer(
        membership=request.membership, certificate_id=certificate_id)
    url = request.build_absolute_uri(reverse("verify", args=[cert.verification_code]))
    # segno writes the SVG with presentation attributes only (no style): CSP-safe inline.
    qr_svg = mark_safe(segno.make(url, error="m").svg_inline(scale=4, title=_("QR code")))
    return render(request, "training/cert/certificate.html", {
        "cert": cert, "public": certificate_services.certificate_public(cert, for_people=True),
        "verify_url": url,
        "qr_svg": qr_svg, "is_holder": cert.holder_id == request.user.pk,
        "can_download": badges.credential_issuable(cert),
    })


@with_membership()
@require_POST
def certificate_display(request, certificate_id):
    try:
        certificate_services.certificate_set_display(
            user=request.user, organization=request.organization,
            certificate_id=certificate_id, show_full_name=request.POST.get("show_full_name", ""),
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Your choice for the public page was saved."))
    return redirect("cert:certificate", certificate_id=certificate_id)


@never_cache
@with_membership()
def decision_detail(request, decision_id):
    decision = decisions.decision_get(membership=request.membership, decision_id=decision_id)
    instrument = decision.instrument_version.instrument
    return render(request, "training/cert/decision.html", {
        "decision": decision,
        "criteria": decisions.criteria_for_display(decision.criteria, instrument),
        "short_exam": dstudy.decision_dependability_note(decision),
        "band_consistency": decisions.decision_band_consistency(decision)
        if request.membership.role == Role.ORG_ADMIN else None,
    })


@never_cache
@with_membership()
def exam_result(request, attempt_id):
    """The candidate's result page after an exam: pass or fail, the criteria, the certificate."""
    attempt = attempt_selectors.attempt_get(
        user=request.user, organization=request.organization, attempt_id=attempt_id)
    attempt = attempt_services.attempt_open(attempt=attempt)
    if attempt.is_open:
        return redirect("attempt-score", attempt_id=attempt.pk)
    return render(request, "training/cert/exam_result.html", {
        "result": decisions.exam_result(attempt=attempt)})


# --- org admin -----------------------------------------------------------------------------


@never_cache
@with_membership(Role.ORG_ADMIN)
def manage(request):
    organization = request.organization
    return render(request, "training/cert/manage.html", {
        "rules": rules.rule_list(organization=organization),
        "candidates": decisions.candidates_for_admin(organization=organization),
        "exams": decisions.exam_attempts_for_admin(organization=organization, limit=50),
        "decisions": decisions.decisions_for_admin(organization=organization, limit=50),
        "exam_overviews": exams.exam_overviews(organization=organization),
    })


@never_cache
@with_membership(Role.ORG_ADMIN)
def exam_exposure(request):
    """Per exam case: how many candidates were drawn it and had its reference released, with
    the suggested retirement."""
    return render(request, "training/cert/exposure.html", {
        "rows": exposure.exam_case_exposure(organization=request.organization),
        "rate_limit": round(100 * exposure.EXPOSURE_RATE_LIMIT),
        "min_candidates": exposure.MIN_CANDIDATES, "release_limit": exposure.RELEASE_LIMIT,
    })


class AccommodationForm(forms.Form):
    user = forms.ChoiceField(label=gettext_lazy("Candidate"))
    extra_minutes = forms.IntegerField(label=gettext_lazy("Extra time (minutes)"),
                                       min_value=1, max_value=exams.MAX_EXTRA_MINUTES)
    reason = forms.CharField(label=gettext_lazy("Reason (recorded)"), required=False, widget=forms.Textarea(
        attrs={"rows": 3}), max_length=exams.MAX_REASON_CHARS)

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {str(u.pk): u for u in candidates}
        self.fields["user"].choices = [(pk, u.get_username()) for pk, u in
                                       self.candidates.items()]


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def exam_accommodations(request, assignment_id):
    """The extra time granted to candidates of one exam, and the form to grant it."""
    assignment = Assignment.objects.filter(pk=assignment_id, organization=request.organization,
                                           mode=Mode.EXAM).select_related("cohort").first()
    if assignment is None:
        raise not_found_in(Assignment, organization=request.organization, pk=assignment_id)
    candidates = list(assignment.cohort.trainees.order_by("username"))
    form = AccommodationForm(request.POST or None, candidates=candidates)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                exams.accommodation_grant(
                    actor=request.user, organization=request.organization,
                    assignment=assignment, user=form.candidates[form.cleaned_data["user"]],
                    extra_minutes=form.cleaned_data["extra_minutes"],
                    reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                for field_name, errors in exc.message_dict.items():
                    form.add_error(field_name if field_name in form.fields else None, errors)
            else:
                messages.success(request, _("Extra time granted."))
                return redirect("cert:exam-accommodations", assignment_id=assignment.pk)
        status = 400
    return render(request, "training/cert/accommodations.html", {
        "assignment": assignment, "form": form,
        "granted": assignment.accommodations.select_related("user", "granted_by")
        .order_by("user__username"),
    }, status=status)


class RuleForm(forms.Form):
    instrument = forms.ChoiceField(label=gettext_lazy("Instrument"), required=False)
    min_exam_vignettes = forms.IntegerField(label=gettext_lazy("Minimum exam vignettes"),
                                            min_value=1, max_value=200, initial=10)
    item_agreement = forms.FloatField(label=gettext_lazy("Item agreement at least (0-1)"),
                                      min_value=0, max_value=1, initial=0.85)
    total_tolerance = forms.IntegerField(label=gettext_lazy("Total tolerance (± points)"),
                                         min_value=0, max_value=20, initial=1)
    total_within_tolerance = forms.FloatField(
        label=gettext_lazy("Share of totals within the tolerance at least (0-1)"),
        min_value=0, max_value=1, initial=0.80)
    band_agreement = forms.FloatField(
        label=gettext_lazy("Band agreement at least (0-1)"), min_value=0, max_value=1,
        initial=0.80, required=False,
        help_text=gettext_lazy("Empty: not a criterion. Only for an instrument whose published "
                               "scheme defines risk bands."))
    icc_a1 = forms.FloatField(label=gettext_lazy("ICC(A,1) with the reference at least"),
                              min_value=-1, max_value=1, initial=0.80)
    icc_a1_required = forms.TypedChoiceField(
        label=gettext_lazy("Require ICC(A,1) with the reference"), required=False,
        choices=[("", gettext_lazy("Automatic: only where the exam pool's totals vary enough")),
                 ("yes", gettext_lazy("Always")), ("no", gettext_lazy("Never"))],
        coerce=lambda v: {"yes": True, "no": False}.get(v), empty_value=None,
        help_text=gettext_lazy("On a pool whose reference totals hardly vary, ICC(A,1) fails "
                               "candidates the totals criterion passes; the page below says "
                               "which case this pool is."))
    applicability_every_vignette = forms.BooleanField(
        label=gettext_lazy("Applicability must be right on every vignette"), required=False,
        initial=True)
    use_ci_lower_bound = forms.BooleanField(
        label=gettext_lazy("Judge on the lower bound of the 95 % confidence interval"),
        required=False)
    validity_months = forms.IntegerField(label=gettext_lazy("Validity (months)"), min_value=1,
                                         max_value=120, initial=24)
    retake_wait_days = forms.IntegerField(label=gettext_lazy("Waiting period between exam "
                                                             "attempts (days)"),
                                          min_value=0, max_value=365, initial=14)
    # Not sent = "never", the safe choice.
    exam_feedback_policy = forms.TypedChoiceField(
        label=gettext_lazy("What exam and recalibration candidates see of the reference"),
        choices=FeedbackPolicy.choices, required=False, empty_value=FeedbackPolicy.NEVER,
        initial=FeedbackPolicy.NEVER,
        help_text=gettext_lazy(
            "“Not shown to trainees”: the result and the criteria only, nothing case by case. "
            "An exam assignment can make this stricter, never looser. A retake never draws a "
            "case the candidate has been given before."))
    recalibration_interval_days = forms.IntegerField(
        label=gettext_lazy("Recalibration every (days)"), required=False, min_value=7,
        max_value=3650, help_text=gettext_lazy("Empty: 30."))
    recalibration_size = forms.IntegerField(
        label=gettext_lazy("Vignettes per recalibration"), required=False, min_value=1,
        max_value=50, help_text=gettext_lazy(
            "Empty: 10. With the defaults a 1-point shift in a holder's totals is found within "
            "a 24-month certificate in at least 80 % of cases (see the statistics notes)."))
    cusum_slack = forms.FloatField(
        label=gettext_lazy("Drift CUSUM slack k (in SD units)"), required=False,
        min_value=0.01, max_value=3, help_text=gettext_lazy(
            "In SD units of the holder's own deviations at certification, not points. "
            "Empty: 0.25."))
    cusum_threshold = forms.FloatField(
        label=gettext_lazy("Drift CUSUM threshold h (in SD units)"), required=False,
        min_value=0.01, max_value=100, help_text=gettext_lazy(
            "In SD units. Empty: 16, which keeps the average run length without drift above "
            "370 cases with the baseline estimated from ten exam vignettes; a smaller h raises "
            "false alarms."))
    accept_short_exam = forms.BooleanField(
        label=gettext_lazy("I accept an exam shorter than the D-study suggests"), required=False,
        help_text=gettext_lazy("Needed to save a rule whose exam length gives a dependability "
                               "Φ(λ) below 0.80 on this organisation's data; recorded with "
                               "your name and the time."))

    def __init__(self, *args, organization, editing, instrument=None, **kwargs):
        super().__init__(*args, **kwargs)
        if instrument is not None and not instrument.has_bands:
            field = self.fields["band_agreement"]
            field.disabled, field.initial = True, None
            field.help_text = _("Not applicable: %(i)s has no published risk bands.") % {
                "i": instrument.short_name}
        if editing:
            del self.fields["instrument"]
        else:
            self.fields["instrument"].required = True
            self.fields["instrument"].choices = [
                (i.slug, i.short_name)
                for i in content_selectors.instrument_list(organization=organization)
            ]


def _rule_page(request, rule: CertificationRule | None):
    organization = request.organization
    if request.method == "POST":
        form = RuleForm(request.POST, organization=organization, editing=rule is not None,
                        instrument=rule.instrument if rule is not None else None)
        if form.is_valid():
            data = dict(form.cleaned_data)
            slug = data.pop("instrument", None)
            try:
                saved = rules.rule_save(actor=request.user, organization=organization,
                                                rule=rule, instrument_slug=slug, **data)
            except ValidationError as exc:
                for key, errors in exc.message_dict.items():
                    form.add_error(key if key in form.fields else None, errors)
            else:
                messages.success(request, _("Certification rule saved."))
                return redirect("cert:rule-edit", rule_id=saved.pk)
    elif rule is not None:
        initial = {n: getattr(rule, n) for n in rules.RULE_FIELDS}
        initial["icc_a1_required"] = {True: "yes", False: "no"}.get(rule.icc_a1_required, "")
        form = RuleForm(initial=initial, organization=organization, editing=True,
                        instrument=rule.instrument)
    else:
        form = RuleForm(organization=organization, editing=False)
    return render(request, "training/cert/rule_form.html", {
        "form": form, "rule": rule,
        "study": dstudy.rule_dependability(rule=rule) if rule is not None else None,
        "icc": dstudy.icc_requirement(rule) if rule is not None else None,
    }, status=400 if form.is_bound else 200)


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def rule_create(request):
    return _rule_page(request, None)


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def rule_edit(request, rule_id):
    return _rule_page(request, rules.rule_get(organization=request.organization,
                                                      rule_id=rule_id))


REGISTER_PAGE_SIZE = 100
FILTERS = {
    "": gettext_lazy("All"),
    "active": gettext_lazy("Active"),
    "expiring": gettext_lazy("Expiring within 60 days"),
    "suspended": gettext_lazy("Suspended"),
    "revoked": gettext_lazy("Revoked"),
}


@never_cache
@with_membership(Role.ORG_ADMIN)
def certificates(request):
    # The API's rule for the status filter. A value it refuses answers 400 here too, with
    # the same message, and the page lists every certificate so the filter can be chosen again.
    query = CertificateRegisterQuerySerializer(data=request.GET)
    if query.is_valid():
        filter_ = query.validated_data.get("filter", "")
        export = query.validated_data.get("format") == "csv"
        query_errors, status = {}, 200
    else:
        filter_, export, query_errors, status = "", False, query.errors, 400
    q = request.GET.get("q", "").strip()[:100]
    if export:
        rows = certificate_services.certificates_for_admin(organization=request.organization,
                                                           filter_=filter_, search=q)
        response = StreamingHttpResponse(
            csv_lines(certificate_services.certificates_csv_rows(rows)),
            content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="certificates.csv"'
        response["Cache-Control"] = "no-store"
        return response
    # A page at a time: an agency certifies thousands (the CSV holds every certificate).
    listing = list_page(request, certificate_services.certificates_for_admin_query(
        organization=request.organization, filter_=filter_, search=q),
        per_page=REGISTER_PAGE_SIZE, keep=("filter", "q"))
    now = timezone.now()
    for cert in listing.rows:
        cert.current_status = cert.effective_status(now)
    return render(request, "training/cert/certificates.html", {
        "rows": listing.rows, "listing": listing, "q": q, "filter": filter_,
        "filters": FILTERS.items(), "query_errors": query_errors,
        "export_query": urlencode([(k, v) for k, v in (("filter", filter_), ("q", q)) if v]),
        # the search keeps the status filter, and "show all" drops only the search
        "search_keep": [("filter", filter_)] if filter_ else [],
        "clear_query": urlencode({"filter": filter_}) if filter_ else "",
    }, status=status)


@with_membership(Role.ORG_ADMIN)
@require_POST
def certificate_status(request, certificate_id):
    try:
        certificate_services.certificate_set_status(
            actor=request.user, organization=request.organization,
            certificate_id=certificate_id, action=request.POST.get("action", ""),
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"{reverse('cert:certificates')}?status_error={certificate_id}")
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("cert:certificates")
    messages.success(request, _("Certificate status changed."))
    return redirect("cert:certificates")


# --- public --------------------------------------------------------------------------------


def _too_many(retry_after: int, *, json: bool):
    if json:
        response = HttpResponse('{"detail": "Too many requests."}', status=429,
                                content_type="application/json")
    else:
        response = HttpResponse(_("Too many requests. Try again in a minute."), status=429,
                                content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_GET
def verify(request, code):
    """Public: anyone may verify a certificate from its code. Unknown and malformed codes
    answer identically (404, same body)."""
    retry = certificate_services.verify_rate_limited(client_address(request))
    if retry is not None:
        return _too_many(retry, json=False)
    public = certificate_services.certificate_verify(code, for_people=True)
    response = render(request, "training/cert/verify.html", {
        "public": public, "not_found": public is None,
    }, status=200 if public else 404)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_GET
def verify_lookup(request):
    """Public: the box for a verification code. A code (or the verification URL, pasted)
    leads to its page; anything that cannot be a code is answered here, counted against the
    same rate limit as a lookup."""
    if "code" not in request.GET:
        response = render(request, "training/cert/verify.html", {"lookup": True})
    else:
        code = certificate_services.code_from_input(request.GET.get("code", ""))
        if code is not None:  # the lookup it leads to is counted there
            return redirect("verify", code=code)
        retry = certificate_services.verify_rate_limited(client_address(request))
        if retry is not None:
            return _too_many(retry, json=False)
        response = render(request, "training/cert/verify.html", {
            "lookup": True, "typed": request.GET.get("code", "")[:200],
            "error": _("A verification code has 32 characters: letters, digits, - and _. "
                       "It is printed under the certificate's QR code; copy it exactly, or "
                       "paste the whole verification link."),
        }, status=400)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
