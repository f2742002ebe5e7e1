"""Authoring pages for instructors and org admins: thin views over vignettes.authoring."""

from __future__ import annotations

import base64
import binascii

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from training.exceptions import Conflict
from training.models import Membership
from training.tenancy import STAFF_ROLES, get_in_organization, with_membership
from vignettes import content_files
from vignettes import selectors as content_selectors
from vignettes.authoring import packs as authoring_packs
from vignettes.authoring import panels as authoring_panels
from vignettes.authoring import references as authoring_references
from vignettes.authoring import sets as authoring_sets
from vignettes.authoring import vignettes as authoring_vignettes
from vignettes.models import (
    CaseType,
    ContentStatus,
    CorrectionDecision,
    Difficulty,
    Instrument,
    PanelScoring,
    Pool,
    ReferencePanel,
    Vignette,
    VignetteSet,
)
from vignettes.rendering import render_markdown
from vignettes.services import ContentProblems

author_required = with_membership(*STAFF_ROLES)


def _vignette(request, pk) -> Vignette:
    # Bundled and other organisations' vignettes are simply not found here.
    return get_in_organization(
        Vignette.objects.select_related("current_revision"), organization=request.organization,
        via="owner", pk=pk,
    )


def _panel(request, pk) -> ReferencePanel:
    return get_in_organization(
        ReferencePanel.objects.select_related("vignette", "vignette_revision", "lead"),
        organization=request.organization, via="vignette__owner", pk=pk,
    )


def _errors(exc: ValidationError | Conflict) -> list[str]:
    """What a refused form post shows: each invalid field's message, or why the content's
    state does not allow the action."""
    if isinstance(exc, Conflict):
        return [str(exc)]
    if hasattr(exc, "message_dict"):
        return [f"{k}: {m}" if k != "__all__" else m
                for k, msgs in exc.message_dict.items() for m in msgs]
    return list(exc.messages)


def _bundled_instruments():
    return Instrument.objects.bundled().filter(
        current_version__isnull=False
    ).select_related("current_version").order_by("short_name")


@author_required
def index(request):
    org = request.organization
    vignettes = Vignette.objects.filter(owner=org).select_related("current_revision")
    pending = content_selectors.panels_waiting_for(user=request.user, organization=org)
    return render(request, "vignettes/author/index.html", {
        "vignettes": vignettes,
        "sets": VignetteSet.objects.filter(owner=org).select_related("instrument"),
        "pending_panels": pending,
    })


def _vignette_form_values(request, vignette=None) -> dict:
    if request.method == "POST":
        p = request.POST
        return {
            "slug": p.get("slug", "").strip() if vignette is None else vignette.slug,
            "pool": p.get("pool", ""),
            "title": p.get("title", ""),
            "case_types": p.getlist("case_types"),
            "difficulty": p.get("difficulty", ""),
            "hard_because": p.get("hard_because", ""),
            "body": p.get("body", ""),
        }
    if vignette is None:
        return {"slug": "", "pool": Pool.PRACTICE, "title": "", "case_types": [],
                "difficulty": Difficulty.STANDARD, "hard_because": "",
                "body": authoring_vignettes.body_template()}
    rev = vignette.current_revision
    return {"slug": vignette.slug, "pool": vignette.pool, "title": rev.title,
            "case_types": rev.case_types, "difficulty": rev.difficulty,
            "hard_because": rev.hard_because, "body": rev.body}


def _vignette_form(request, vignette=None):
    values = _vignette_form_values(request, vignette)
    errors, preview, problems = [], None, []
    if request.method == "POST":
        if "preview" in request.POST:
            preview = render_markdown(values["body"])
            doc = content_files.VignetteDoc(
                path="-", slug=values["slug"], title=values["title"],
                case_types=values["case_types"], difficulty=values["difficulty"],
                hard_because=values["hard_because"], pool=values["pool"], status="draft",
                panel="", agreed_on=None, body=values["body"].strip() + "\n", references={},
            )
            bundle = content_files.ContentBundle()
            content_files.check_vignette_text(doc, bundle, authoring_vignettes.explicit_terms())
            problems = [f"{p.field}: {p.message}" for p in bundle.problems]
        else:
            try:
                if vignette is None:
                    vignette = authoring_vignettes.vignette_create(
                        organization=request.organization, actor=request.user, **values
                    )
                    messages.success(request, _("Draft created."))
                else:
                    values.pop("slug")
                    authoring_vignettes.vignette_update(
                        vignette=vignette, organization=request.organization,
                        actor=request.user, **values,
                    )
                    messages.success(request, _("Draft saved."))
                return redirect("author:vignette", pk=vignette.pk)
            except (ValidationError, Conflict) as exc:
                errors = _errors(exc)
    return render(request, "vignettes/author/vignette_form.html", {
        "vignette": vignette, "values": values, "errors": errors, "preview": preview,
        "problems": problems, "pools": Pool.choices, "case_types": CaseType.choices,
        "difficulties": Difficulty.choices,
    })


@author_required
@require_http_methods(["GET", "POST"])
def vignette_new(request):
    return _vignette_form(request)


@author_required
@require_http_methods(["GET", "POST"])
def vignette_edit(request, pk):
    vignette = _vignette(request, pk)
    if vignette.status != ContentStatus.DRAFT:
        messages.error(request, _("Only a draft can be edited; return it to draft first."))
        return redirect("author:vignette", pk=vignette.pk)
    return _vignette_form(request, vignette)


@author_required
def vignette_detail(request, pk):
    vignette = _vignette(request, pk)
    revision = vignette.current_revision
    references = authoring_vignettes.current_references(revision)
    refs = []
    for instrument in _bundled_instruments():
        ref = references.get(instrument.slug)
        refs.append({
            "instrument": instrument,
            "reference": ref,
            "result": ref.result() if ref else None,
            "items": list(ref.item_scores.select_related("item")) if ref else [],
            "corrections": list(
                CorrectionDecision.objects.filter(
                    new_reference__vignette_revision=revision,
                    new_reference__instrument_version__instrument=instrument,
                ).select_related("old_reference", "new_reference", "decided_by")
            ),
        })
    problems = (
        authoring_vignettes.publish_problems(vignette)
        if vignette.status in (ContentStatus.DRAFT, ContentStatus.IN_REVIEW) else []
    )
    return render(request, "vignettes/author/vignette_detail.html", {
        "vignette": vignette, "revision": revision, "body_html": render_markdown(revision.body),
        "refs": refs, "problems": problems,
        "draft_only_reason": authoring_vignettes.draft_only_reason(vignette),
        "panels": vignette.panels.select_related("lead").prefetch_related(
            "instrument_versions__instrument"),
        "revisions": vignette.revisions.all(),
    })


@author_required
@require_POST
def vignette_transition(request, pk):
    vignette = _vignette(request, pk)
    try:
        authoring_vignettes.vignette_transition(
            vignette=vignette, organization=request.organization, actor=request.user,
            action=request.POST.get("action", ""),
        )
        messages.success(request, _("Status changed."))
    except ValidationError as exc:
        for message in _errors(exc):
            messages.error(request, message)
    except Conflict as exc:
        messages.error(request, str(exc))
    return redirect("author:vignette", pk=vignette.pk)


def _experts(organization):
    return Membership.objects.filter(
        organization=organization, role__in=STAFF_ROLES
    ).select_related("user").order_by("user__username")


@author_required
@require_http_methods(["GET", "POST"])
def panel_new(request, pk):
    vignette = _vignette(request, pk)
    errors = []
    if request.method == "POST":
        try:
            ids = [int(x) for x in request.POST.getlist("experts")]
        except ValueError:
            ids = []
        try:
            panel = authoring_panels.panel_create(
                vignette=vignette, organization=request.organization, lead=request.user,
                expert_ids=ids, site=request.build_absolute_uri("/"),
            )
            messages.success(request, _("Panel created; the experts can now score."))
            return redirect("author:panel", pk=panel.pk)
        except (ValidationError, Conflict) as exc:
            errors = _errors(exc)
    return render(request, "vignettes/author/panel_new.html", {
        "vignette": vignette, "instruments": _bundled_instruments(),
        "experts": _experts(request.organization), "errors": errors,
    })


def _scoring_input(post, prefix: str = "") -> authoring_references.ScoringInput:
    applicable = {"yes": True, "no": False}.get(post.get(f"{prefix}applicable"))
    codes, rationales = {}, {}
    for key, raw in post.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        if key.startswith("item-"):
            code = key[5:]
            if raw == "omit":
                codes[code] = None
            elif raw.strip():
                try:
                    codes[code] = int(raw)
                except ValueError:
                    codes[code] = raw  # the scoring function reports it
        elif key.startswith("rationale-"):
            rationales[key[10:]] = raw
    if applicable is False:
        # An instrument that does not apply gets no item coding: whatever the form held
        # for its items is not part of the decision.
        codes, rationales = {}, {}
    return authoring_references.ScoringInput(
        applicable=applicable, reason=post.get(f"{prefix}reason", ""), codes=codes,
        rationales=rationales,
    )


def _scoring_rows(version, values: authoring_references.ScoringInput | None,
                  agreement=None):
    # Items are marked only where every expert coded them (the instrument applies for all).
    disagree = ({i.code: i for i in agreement.items if not i.agree}
                if agreement is not None and all(agreement.applicability) else {})
    rows = []
    for item in version.items.prefetch_related("allowed_values"):
        rows.append({
            "item": item,
            "values": list(item.allowed_values.all()),
            "current": "" if values is None or item.code not in values.codes
            else ("omit" if values.codes[item.code] is None else str(values.codes[item.code])),
            "rationale": (values.rationales.get(item.code, "") if values else ""),
            "disagreement": disagree.get(item.code),
        })
    return rows


def _applicable_value(values) -> str:
    if values is None or values.applicable is None:
        return ""
    return "yes" if values.applicable else "no"


def _panel_forms(versions, values: dict, agreements: dict | None = None) -> list[dict]:
    """One block of fields per instrument of the panel, named with the instrument's slug."""
    out = []
    for version in versions:
        slug = version.instrument.slug
        current = values.get(slug)
        agreement = (agreements or {}).get(slug)
        out.append({
            "version": version,
            "prefix": f"{slug}-",
            "rows": _scoring_rows(version, current, agreement),
            "applicable_value": _applicable_value(current),
            "reason": current.reason if current else "",
            "agreement": agreement,
        })
    return out


@author_required
@require_http_methods(["GET", "POST"])
def panel_detail(request, pk):
    panel = _panel(request, pk)
    versions = authoring_panels.panel_versions(panel)
    me = panel.members.filter(user=request.user).first()
    my_scoring = PanelScoring.objects.filter(member=me).exists() if me else False
    errors, values = [], {}
    action = request.POST.get("action") if request.method == "POST" else None
    if request.method == "POST":
        values = {v.instrument.slug: _scoring_input(request.POST, f"{v.instrument.slug}-")
                  for v in versions}
        try:
            if action == "consensus":
                authoring_panels.panel_consensus_record(
                    panel=panel, actor=request.user, ref_inputs=values,
                    panel_text=request.POST.get("panel_text", ""),
                )
                messages.success(request, _("Consensus references recorded."))
                return redirect("author:vignette", pk=panel.vignette_id)
            authoring_panels.panel_scoring_submit(panel=panel, user=request.user,
                                                  ref_inputs=values)
            messages.success(request, _("Your scoring is submitted."))
            return redirect("author:panel", pk=panel.pk)
        except ValidationError as exc:
            errors = _errors(exc)
        except (Conflict, authoring_vignettes.PermissionDenied) as exc:
            errors = [str(exc)]
    agreement = authoring_panels.panel_agreement(panel)
    members = [
        {"user": m.user, "submitted": m.has_scored}
        for m in panel.members.select_related("user").annotate(
            has_scored=Exists(PanelScoring.objects.filter(member=OuterRef("pk"))))
    ]
    can_record = (agreement is not None and panel.lead_id == request.user.pk
                  and panel.status == ReferencePanel.Status.SCORING)
    if can_record and action != "consensus":
        # The consensus form starts from what every expert agreed on.
        values = {slug: a.consensus_start() for slug, a in agreement.items()}
    return render(request, "vignettes/author/panel_detail.html", {
        "panel": panel,
        "versions": versions,
        "body_html": render_markdown(panel.vignette_revision.body),
        "members": members,
        "is_member": me is not None,
        "my_scoring": my_scoring,
        "agreement": list(agreement.values()) if agreement else None,
        "can_record": can_record,
        "score_forms": _panel_forms(versions, values if action != "consensus" else {}),
        "consensus_forms": _panel_forms(versions, values, agreement) if can_record else [],
        "errors": errors,
        "references": panel.references.select_related("instrument_version__instrument")
        .order_by("instrument_version__instrument__short_name", "number"),
    })


@author_required
@require_http_methods(["GET", "POST"])
def reference_correct(request, pk, instrument):
    vignette = _vignette(request, pk)
    if vignette.status != ContentStatus.PUBLISHED:
        raise Http404
    current = authoring_vignettes.current_references(vignette.current_revision).get(instrument)
    if current is None:
        raise Http404
    errors = []
    if request.method == "POST":
        values = _scoring_input(request.POST)
        try:
            authoring_references.reference_correct(
                vignette=vignette, organization=request.organization, actor=request.user,
                instrument_slug=instrument, ref_input=values,
                re_evaluate=request.POST.get("re_evaluate") == "yes",
                note=request.POST.get("note", ""),
            )
            messages.success(request, _("Corrected reference published."))
            return redirect("author:vignette", pk=vignette.pk)
        except (ValidationError, Conflict) as exc:
            errors = _errors(exc)
    else:
        values = authoring_references.ScoringInput(
            applicable=current.applicable, reason=current.not_applicable_reason,
            codes=current.item_states(),
            rationales={s.item.code: s.rationale
                        for s in current.item_scores.select_related("item")},
        )
    return render(request, "vignettes/author/reference_correct.html", {
        "vignette": vignette, "current": current, "errors": errors,
        "rows": _scoring_rows(current.instrument_version, values),
        "applicable_value": _applicable_value(values), "reason": values.reason,
    })


@author_required
@require_http_methods(["GET", "POST"])
def set_form(request, pk=None):
    vignette_set = (
        get_in_organization(VignetteSet, organization=request.organization, via="owner", pk=pk)
        if pk else None
    )
    errors = []
    if request.method == "POST":
        p = request.POST
        values = {"slug": p.get("slug", "").strip(), "title": p.get("title", ""),
                  "kind": p.get("kind", ""), "instrument": p.get("instrument", ""),
                  "vignettes": p.getlist("vignettes")}
        try:
            saved = authoring_sets.vignette_set_save(
                organization=request.organization, actor=request.user, slug=values["slug"],
                title=values["title"], kind=values["kind"],
                instrument_slug=values["instrument"] or None,
                vignette_slugs=values["vignettes"], vignette_set=vignette_set,
            )
            messages.success(request, _("Set saved."))
            return redirect("author:set-edit", pk=saved.pk)
        except ValidationError as exc:
            errors = _errors(exc)
    elif vignette_set is not None:
        values = {"slug": vignette_set.slug, "title": vignette_set.title,
                  "kind": vignette_set.kind,
                  "instrument": vignette_set.instrument.slug if vignette_set.instrument else "",
                  "vignettes": list(vignette_set.members.values_list("vignette__slug",
                                                                    flat=True))}
    else:
        values = {"slug": "", "title": "", "kind": "exam", "instrument": "", "vignettes": []}
    return render(request, "vignettes/author/set_form.html", {
        "vignette_set": vignette_set, "values": values, "errors": errors,
        "kinds": VignetteSet.Kind.choices, "instruments": _bundled_instruments(),
        "vignettes": Vignette.objects.filter(owner=request.organization)
        .select_related("current_revision"),
    })


@author_required
@require_http_methods(["GET", "POST"])
def pack_export(request):
    org = request.organization
    if request.method == "POST":
        chosen = request.POST.getlist("vignettes")
        data = authoring_packs.pack_export(
            organization=org, vignette_slugs=chosen or None,
        )
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{org.slug}-content-pack.zip"'
        return response
    return render(request, "vignettes/author/pack_export.html", {
        "vignettes": Vignette.objects.filter(owner=org).select_related("current_revision"),
    })


@author_required
@require_http_methods(["GET", "POST"])
def pack_import(request):
    org = request.organization
    context: dict = {}
    if request.method == "POST":
        data = b""
        if "pack" in request.FILES:
            upload = request.FILES["pack"]
            data = upload.read(authoring_packs.PACK_MAX_BYTES + 1)
        elif request.POST.get("pack_data"):
            try:
                data = base64.b64decode(request.POST["pack_data"], validate=True)
            except (binascii.Error, ValueError):
                data = b""
        if not data:
            context["errors"] = [_("Choose a .zip content pack.")]
        elif request.POST.get("confirm") == "yes":
            try:
                report = authoring_packs.pack_import(data=data, organization=org, actor=request.user)
                messages.success(request, _("Pack imported: %(n)d change(s).")
                                 % {"n": len(report.changes)})
                return redirect("author:index")
            except ContentProblems as exc:
                context["problems"] = [str(p) for p in exc.problems]
        else:
            bundle = authoring_packs.pack_read(data=data, organization=org)
            if bundle.problems:
                context["problems"] = [str(p) for p in bundle.problems]
            else:
                context["changes"] = authoring_packs.pack_preview(bundle=bundle, organization=org)
                context["pack_data"] = base64.b64encode(data).decode("ascii")
    return render(request, "vignettes/author/pack_import.html", context)
