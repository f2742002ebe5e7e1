from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from training.tenancy import active_membership
from vignettes import selectors
from vignettes.models import Difficulty
from vignettes.rendering import render_markdown


def _active_organization(request):

    membership = active_membership(request.user)
    return membership.organization if membership else None


@login_required
@require_GET
def library(request):
    filters = {
        "difficulty": request.GET.get("difficulty") or None,
        "instrument": request.GET.get("instrument") or None,
        "query": (request.GET.get("q") or "").strip()[:100] or None,
    }
    attempted = {"yes": True, "no": False}.get(request.GET.get("attempted", ""))
    organization = _active_organization(request)
    vignettes = selectors.practice_library(
        **filters, organization=organization, user=request.user, attempted=attempted
    )
    filters["attempted"] = request.GET.get("attempted", "")
    page = Paginator(vignettes, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "vignettes/library.html",
        {
            "page": page,
            "filters": filters,
            "difficulties": Difficulty.choices,
            "instruments": selectors.instrument_list(),
        },
    )


@login_required
@require_GET
def vignette_detail(request, slug):
    organization = _active_organization(request)
    try:
        vignette = selectors.practice_vignette_get(slug=slug, organization=organization)
    except Http404:
        renamed = selectors.renamed_practice_vignette(slug=slug, organization=organization)
        if renamed is None:
            raise
        return redirect("vignettes:detail", slug=renamed.slug, permanent=True)
    revision = vignette.current_revision
    return render(
        request,
        "vignettes/vignette_detail.html",
        {
            "vignette": vignette,
            "revision": revision,
            "case_file": render_markdown(revision.body),
        },
    )
