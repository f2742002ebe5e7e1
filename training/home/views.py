"""The home page (/dashboard/): each role's "what should I do next"."""

from __future__ import annotations

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from training.home.selectors import home_sections
from training.tenancy import with_membership


@never_cache
@with_membership()
def dashboard(request):
    context = home_sections(membership=request.membership, now=timezone.now())
    return render(request, "training/dashboard.html", context)
