"""The attempts API: start, read, save ratings, submit, feedback; the trainee's assignments."""

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from config.api.parsers import StrictJSONParser
from training.attempts import selectors
from training.attempts import services as attempt_services
from training.attempts.serializers import (
    RATING_DRAFT_FIELDS,
    AssignmentSerializer,
    AttemptCreateSerializer,
    AttemptDetailSerializer,
    AttemptListSerializer,
    FeedbackSerializer,
    RatingSavedSerializer,
    RatingSaveSerializer,
)
from training.models import Assignment, Attempt
from training.tenancy import (
    ORG_HEADER,
    OrganizationScopedApi,
)


@extend_schema(parameters=[ORG_HEADER])
class AttemptListCreateApi(OrganizationScopedApi, generics.GenericAPIView):
    serializer_class = AttemptListSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Attempt.objects.none()
        return selectors.attempt_list(user=self.request.user, organization=self.organization)

    @extend_schema(operation_id="attempts_list", responses=AttemptListSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AttemptListSerializer(page, many=True).data)

    @extend_schema(request=AttemptCreateSerializer, responses={201: AttemptDetailSerializer})
    @transaction.atomic  # the write and the answer's reads together (see RatingSaveApi.put)
    def post(self, request):
        data = AttemptCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "assignment" in values:
            assignment = Assignment.objects.filter(
                pk=values["assignment"], organization=self.organization
            ).first()
            if assignment is None:
                raise serializers.ValidationError({"assignment": "No such assignment for you."})
            try:
                attempt = attempt_services.attempt_start_assignment(
                    user=request.user,
                    organization=self.organization,
                    assignment=assignment,
                    vignette_slug=values.get("vignette"),
                    accept_undertaking=values.get("accept_undertaking", False),
                )
            except Assignment.DoesNotExist:
                raise serializers.ValidationError(
                    {"assignment": "No such assignment for you."}
                ) from None
        else:
            try:
                attempt = attempt_services.attempt_start_practice(
                    user=request.user,
                    organization=self.organization,
                    vignette_slug=values["vignette"],
                    instrument_slugs=values["instruments"],
                )
            except Http404:
                raise serializers.ValidationError(
                    {"vignette": "No such practice vignette."}
                ) from None
        attempt = selectors.attempt_get(
            user=request.user, organization=self.organization, attempt_id=attempt.pk
        )
        attempt = attempt_services.attempt_open(attempt=attempt)
        return Response(_attempt_payload(attempt), status=status.HTTP_201_CREATED)


def _attempt_payload(attempt):
    return AttemptDetailSerializer(
        attempt,
        context={
            "drafts": selectors.attempt_ratings(attempt),
            "feedback_available": selectors.feedback_allowed(attempt),
        },
    ).data


@extend_schema(parameters=[ORG_HEADER], responses=AttemptDetailSerializer)
class AttemptDetailApi(OrganizationScopedApi):
    def get(self, request, attempt_id):
        attempt = selectors.attempt_get(
            user=request.user, organization=self.organization, attempt_id=attempt_id
        )
        attempt = attempt_services.attempt_open(attempt=attempt)
        return Response(_attempt_payload(attempt))


@extend_schema(
    parameters=[ORG_HEADER],
    request=RatingSaveSerializer,
    responses={200: RatingSavedSerializer},
    description=(
        "Save a draft of one rating (vignette x instrument): merged into what was saved; "
        "`null` for an item = omitted. A stale `revision` answers 409 and changes nothing."
    ),
)
class RatingSaveApi(OrganizationScopedApi):
    parser_classes = [StrictJSONParser]

    def put(self, request, attempt_id):
        # Reading the attempt finalises it when its deadline has passed; that must commit on
        # its own, even though the save below then answers 409.
        attempt = selectors.attempt_get(
            user=request.user, organization=self.organization, attempt_id=attempt_id,
            related=False,
        )
        attempt = attempt_services.attempt_open(attempt=attempt)
        # The write and the reads that build the answer are one transaction: if the database
        # goes away before the answer is built, the write rolls back and the client gets 503,
        # never a 503 for a save that was stored (nor a 2xx for one that was not).
        with transaction.atomic():
            return self._save(request, attempt)

    def _save(self, request, attempt):
        data = RatingSaveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        saved = attempt_services.rating_save_draft(
            attempt=attempt,
            vignette=body["vignette"],
            instrument=body["instrument"],
            revision=body["revision"],
            applicable=body.get("applicable"),
            items=body.get("items"),
            notes=body.get("notes"),
            rationale=body.get("rationale"),
            fields_sent=frozenset(body) & RATING_DRAFT_FIELDS,
        )
        # The answer is the rating as the save left it; reading the attempt and all its drafts
        # again would double the work of the most frequent write (autosave).
        draft = selectors.rating_draft(
            saved.rating, vignette_slug=body["vignette"], instrument_slug=body["instrument"],
            items=saved.items, result=saved.result,
        )
        return Response(RatingSavedSerializer(draft).data)


@extend_schema(parameters=[ORG_HEADER], request=None, responses=AttemptDetailSerializer)
class AttemptSubmitApi(OrganizationScopedApi):
    parser_classes = [StrictJSONParser, JSONParser]

    def post(self, request, attempt_id):
        # Outside the transaction: a read past the deadline finalises the attempt (see put).
        attempt = selectors.attempt_get(
            user=request.user, organization=self.organization, attempt_id=attempt_id
        )
        attempt = attempt_services.attempt_open(attempt=attempt)
        with transaction.atomic():  # the write and the answer's reads together
            submitted = attempt_services.attempt_submit(attempt=attempt)
            # The answer reuses what was read above (its vignettes and instruments never
            # change) with the attempt's own columns as the submission left them; the drafts
            # are read again, inside the transaction.
            for field in Attempt._meta.concrete_fields:
                setattr(attempt, field.attname, getattr(submitted, field.attname))
            return Response(_attempt_payload(attempt))


@extend_schema(parameters=[ORG_HEADER], responses=FeedbackSerializer(many=True))
class AttemptFeedbackApi(OrganizationScopedApi):
    def get(self, request, attempt_id):
        attempt = selectors.attempt_get(
            user=request.user, organization=self.organization, attempt_id=attempt_id
        )
        attempt = attempt_services.attempt_open(attempt=attempt)
        if not selectors.feedback_allowed(attempt):
            return Response(
                {"detail": selectors.feedback_release_note(attempt), "code": "not_available"},
                status=status.HTTP_403_FORBIDDEN,
            )
        return Response(FeedbackSerializer(selectors.attempt_feedback(attempt), many=True).data)


@extend_schema(parameters=[ORG_HEADER])
class AssignmentListApi(OrganizationScopedApi, generics.ListAPIView):
    """The open assignments of the cohorts you are a trainee in."""

    serializer_class = AssignmentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Assignment.objects.none()
        return selectors.assignments_for_trainee(
            user=self.request.user, organization=self.organization
        )
