from django.http import Http404, HttpResponsePermanentRedirect
from django.urls import reverse
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics

from training.tenancy import active_membership
from vignettes import selectors
from vignettes.models import Difficulty, Vignette
from vignettes.serializers import (
    InstrumentSerializer,
    VignetteDetailSerializer,
    VignetteListSerializer,
)


class InstrumentListApi(generics.ListAPIView):
    """Instruments with their items, allowed values and bands."""

    serializer_class = InstrumentSerializer

    def get_queryset(self):
        return selectors.instrument_list()


LIBRARY_PARAMETERS = [
    OpenApiParameter("difficulty", str, enum=Difficulty.values),
    OpenApiParameter("instrument", str, description=(
        "An instrument slug: every case with a reference scoring for it, whether or not the "
        "instrument applies (the filter never answers the applicability question).")),
    OpenApiParameter("q", str, description="Search in titles."),
    OpenApiParameter("attempted", bool, description="Only cases you have (not) submitted."),
]


class VignetteFilter(filters.FilterSet):
    """Declared for validation: unknown choices answer 400, not an empty page."""

    attempted = filters.BooleanFilter(method="noop")
    difficulty = filters.ChoiceFilter(choices=Difficulty.choices, method="noop")

    def noop(self, queryset, name, value):
        return queryset


@extend_schema(parameters=LIBRARY_PARAMETERS)
class VignetteListApi(generics.ListAPIView):
    """The practice library: published practice vignettes (never exam or recalibration)."""

    serializer_class = VignetteListSerializer
    filterset_class = VignetteFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Vignette.objects.none()
        params = self.request.query_params

        membership = active_membership(self.request.user)
        attempted = {"true": True, "false": False}.get(params.get("attempted", "").lower())
        return selectors.practice_library(
            organization=membership.organization if membership else None,
            user=self.request.user,
            attempted=attempted,
            difficulty=params.get("difficulty") or None,
            instrument=params.get("instrument") or None,
            query=(params.get("q") or "").strip()[:100] or None,
        )


class VignetteDetailApi(generics.RetrieveAPIView):
    """One practice vignette with its case file. Exam vignettes answer 404 here."""

    serializer_class = VignetteDetailSerializer
    lookup_field = "slug"

    def get_object(self):
        membership = active_membership(self.request.user)
        organization = membership.organization if membership else None
        try:
            return selectors.practice_vignette_get(slug=self.kwargs["slug"],
                                                   organization=organization)
        except Http404:
            renamed = selectors.renamed_practice_vignette(slug=self.kwargs["slug"],
                                                          organization=organization)
            if renamed is None:
                raise
            raise Renamed(renamed.slug) from None

    def handle_exception(self, exc):
        if isinstance(exc, Renamed):
            return HttpResponsePermanentRedirect(
                reverse("api:vignette-detail", kwargs={"slug": exc.slug}))
        return super().handle_exception(exc)


class Renamed(Exception):
    """The vignette asked for by a former slug: answered with a permanent redirect."""

    def __init__(self, slug):
        super().__init__(slug)
        self.slug = slug
