"""People and their work. Organisations come first: everything else is scoped to one."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    created_at = models.DateTimeField(auto_now_add=True)
    # Data retention (personal data is not kept longer than needed); empty = keep forever.
    # Applied by `manage.py apply_retention` (also run by `certification_tick`); see
    # training/organisation/retention.py.
    draft_retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(36500)],
        help_text=_("Unsubmitted practice attempts untouched for longer are deleted. "
                    "Exam attempts and submitted work are never deleted. Empty = keep."),
    )
    attempt_retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(36500)],
        help_text=_("Submitted attempts older than this lose their free-text notes, rationales "
                    "and comments; the work of people who have left the organisation is "
                    "pseudonymised. Empty = keep."),
    )
    # Appeals (training/certification/appeals.py): how long a candidate has to appeal a
    # decision, a suspension, a revocation or a voided exam attempt, and whether a candidate's
    # instructors (an org admin who teaches one of their cohorts included) are kept from
    # deciding their appeals and from voiding their attempts.
    appeal_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Days a candidate has to appeal, counted from the decision, suspension, "
                    "revocation or void."),
    )
    impartial_appeals = models.BooleanField(
        default=True,
        help_text=_("A candidate's instructors may not decide their appeals or void their "
                    "exam attempts."),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    TRAINEE = "trainee", _("Trainee")
    INSTRUCTOR = "instructor", _("Instructor")
    ORG_ADMIN = "org_admin", _("Organisation admin")


class Membership(models.Model):
    """A user's role in one organisation. A user may belong to several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership"),
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} as {self.get_role_display()}"


class Profile(models.Model):
    """Per-user state that is not authentication: the active organisation, notices seen."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    active_organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    content_notice_seen_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(
        null=True, blank=True,
        help_text=_("Set when this account is an erased member's pseudonym (data protection)."),
    )

    def __str__(self):
        return f"Profile of {self.user}"


class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox): the database keeps only a hash of the token, the first
    characters of it (`token_key`, to find the row) and its expiry; the token itself is shown
    once, when it is issued. A user has one per client that asked; each can be revoked."""

    # Written at most once a minute per token, so that a busy client does not write a row on
    # every request; enough for a person to tell which of their tokens are still in use.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        # Never the digest or the user's name: a label safe for logs and the audit trail.
        return f"API token {self.prefix}…"

    @property
    def prefix(self) -> str:
        """A short, non-secret part of the token (8 of its 64 characters) that lets a person
        tell their tokens apart."""
        return self.token_key[:8]


class Invitation(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Invitation of {self.email} to {self.organization}"


class Cohort(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=200)
    trainees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="cohorts_as_trainee"
    )
    instructors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="cohorts_as_instructor"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="uniq_cohort_name"),
        ]

    def __str__(self):
        return self.name


class Mode(models.TextChoices):
    PRACTICE = "practice", _("Practice")
    EXAM = "exam", _("Exam")


class AssignmentKind(models.TextChoices):
    STANDARD = "standard", _("Assignment")
    # The whole cohort rates the same vignettes, new to every trainee, in one period: the fully
    # crossed design reliability among trainees needs: every rating in a round is a first one.
    CALIBRATION_ROUND = "calibration_round", _("Calibration round")


class FeedbackPolicy(models.TextChoices):
    IMMEDIATE = "immediate", _("Right after submission")
    AFTER_CLOSE = "after_close", _("After the assignment closes")
    NEVER = "never", _("Not shown to trainees")


class Assignment(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="assignments"
    )
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="assignments")
    title = models.CharField(max_length=200)
    vignette_set = models.ForeignKey(
        "vignettes.VignetteSet", on_delete=models.PROTECT, related_name="assignments"
    )
    instruments = models.ManyToManyField("vignettes.Instrument", related_name="assignments")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.PRACTICE)
    kind = models.CharField(
        max_length=24, choices=AssignmentKind.choices, default=AssignmentKind.STANDARD,
        help_text=_("A calibration round: the whole cohort rates the same new vignettes in "
                    "one period."),
    )
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField(null=True, blank=True)
    time_limit_minutes = models.PositiveIntegerField(null=True, blank=True)
    attempts_allowed = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Empty = unlimited.")
    )
    feedback_policy = models.CharField(
        max_length=16, choices=FeedbackPolicy.choices, default=FeedbackPolicy.IMMEDIATE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    draw_size = models.PositiveIntegerField(
        null=True, blank=True,
        help_text=_("Exam: vignettes drawn per trainee from the pool. Empty = the whole pool. "
                    "Calibration round: the number of vignettes in the round."),
    )
    retake_wait_days = models.PositiveIntegerField(
        null=True, blank=True,
        help_text=_("Exam: days to wait between attempts. Empty = the certification rule's."),
    )

    class Meta:
        ordering = ["-opens_at", "title"]

    def __str__(self):
        return self.title


class AttemptStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    SUBMITTED = "submitted", _("Submitted")
    FINALISED = "finalised", _("Finalised at the deadline")


class Attempt(models.Model):
    """One trainee's work on one assignment, or on one free-practice vignette."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attempts"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="attempts"
    )
    assignment = models.ForeignKey(
        Assignment, null=True, blank=True, on_delete=models.PROTECT, related_name="attempts"
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.PRACTICE)
    status = models.CharField(
        max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.IN_PROGRESS
    )
    started_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    instrument_versions = models.ManyToManyField(
        "vignettes.InstrumentVersion", related_name="attempts"
    )
    opened_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Exam: first open; the clock starts here.")
    )
    draw_seed = models.BigIntegerField(
        null=True, blank=True, help_text=_("Exam: seed of the random draw, for the record.")
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["organization", "user", "status"])]

    def __str__(self):
        return f"Attempt {self.pk} by {self.user}"

    @property
    def is_open(self) -> bool:
        return self.status == AttemptStatus.IN_PROGRESS


class AttemptVignette(models.Model):
    """The vignette revisions an attempt covers, pinned when it starts."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="attempt_vignettes")
    vignette_revision = models.ForeignKey(
        "vignettes.VignetteRevision", on_delete=models.PROTECT, related_name="+"
    )
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["attempt", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt", "vignette_revision"], name="uniq_attempt_vignette"
            ),
        ]

    def __str__(self):
        return f"{self.attempt_id}: {self.vignette_revision}"


class Rating(models.Model):
    """One vignette x one instrument within an attempt: applicability, items, rationale.

    Never changes once its attempt is submitted. `total` and `band_code` are computed by the
    scoring function at submission, never taken from input.
    """

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="ratings")
    vignette_revision = models.ForeignKey(
        "vignettes.VignetteRevision", on_delete=models.PROTECT, related_name="ratings"
    )
    instrument_version = models.ForeignKey(
        "vignettes.InstrumentVersion", on_delete=models.PROTECT, related_name="ratings"
    )
    applicable = models.BooleanField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    notes = models.JSONField(default=dict, blank=True, help_text=_("Item code -> note."))
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Filled at submission from the scoring function and the reference it was compared with.
    reference_scoring = models.ForeignKey(
        "vignettes.ReferenceScoring",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ratings",
    )
    total = models.IntegerField(null=True, blank=True)
    band_code = models.CharField(max_length=32, blank=True)
    # The item codes as submitted ({code: value, null = omitted}), frozen with the rating so
    # dashboards read one row per rating instead of one per item rating.
    codes = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["attempt", "vignette_revision", "instrument_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt", "vignette_revision", "instrument_version"],
                name="uniq_rating",
            ),
        ]
        indexes = [models.Index(fields=["instrument_version", "submitted_at"])]

    def __str__(self):
        return f"Rating {self.pk} ({self.vignette_revision} on {self.instrument_version})"


class RatingItem(models.Model):
    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey("vignettes.Item", on_delete=models.PROTECT, related_name="+")
    value = models.IntegerField(null=True, blank=True, help_text=_("Empty = omitted."))

    class Meta:
        ordering = ["rating", "item__order"]
        constraints = [
            models.UniqueConstraint(fields=["rating", "item"], name="uniq_rating_item"),
        ]

    def __str__(self):
        return f"{self.item_id} = {self.value}"


# The name snapshots of an audit event: the only columns that may ever change after the
# event was recorded, and only by a data-protection erasure (which replaces the erased
# person's name by their pseudonym).
AUDIT_NAME_SNAPSHOTS = frozenset({"actor_username", "subject_username"})


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValueError("Audit events are append-only.")

    def delete(self):
        raise ValueError("Audit events are append-only.")

    def pseudonymise_names(self, **snapshots) -> int:
        """The single permitted change to recorded events: an erasure replaces the erased
        person's name snapshots by their pseudonym. Nothing else can be changed this way."""
        if not snapshots or set(snapshots) - AUDIT_NAME_SNAPSHOTS:
            raise ValueError("Audit events are append-only.")
        return super().update(**snapshots)


class AuditEvent(models.Model):
    """Append-only audit trail: never updated, never deleted."""

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_repr = models.CharField(max_length=200, blank=True)
    # The actor's username when the event was recorded. It outlives the account (the
    # foreign key goes empty when a user is deleted); an erasure replaces it by the
    # pseudonym. Empty for the system.
    actor_username = models.CharField(max_length=150, blank=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    # The person the event is about (a membership's user, an attempt's trainee, a certificate's
    # holder...). Pages show their current username, so an erased member appears under their
    # pseudonym; `subject_username` keeps the name the event was recorded with, for when the
    # account has been deleted.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    subject_username = models.CharField(max_length=150, blank=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=100)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["organization", "at"])]

    def __str__(self):
        actor = self.actor_username or self.actor_repr
        return f"{self.at:%Y-%m-%d %H:%M} {actor} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class RatingComment(models.Model):
    """An instructor's comment on a trainee's rating; the trainee sees it with the feedback."""

    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["rating", "created_at"]

    def __str__(self):
        return f"Comment on rating {self.rating_id}"


# --- Certification -------------------------------------------------------------------------


class CertificationRule(models.Model):
    """What an organisation requires of an exam before it certifies a rater on an instrument.

    Defaults are DESIGN.md's example thresholds."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="certification_rules"
    )
    instrument = models.ForeignKey(
        "vignettes.Instrument", on_delete=models.PROTECT, related_name="certification_rules"
    )
    min_exam_vignettes = models.PositiveIntegerField(default=10)
    item_agreement = models.FloatField(default=0.85)
    total_tolerance = models.PositiveIntegerField(default=1)
    total_within_tolerance = models.FloatField(default=0.80)
    # Empty: band agreement is not a criterion, as for an instrument without published bands.
    band_agreement = models.FloatField(
        null=True, blank=True, default=0.80,
        help_text=_("Share of band agreement required; empty when not required (always for an "
                    "instrument without published bands)."))
    icc_a1 = models.FloatField(default=0.80)
    # Empty = automatic: required only where the exam pool's reference totals vary enough for
    # ICC(A,1) to judge the candidate rather than the pool (training.certification.dstudy).
    icc_a1_required = models.BooleanField(
        null=True, blank=True,
        help_text=_("Empty: required only where the exam pool's totals vary enough."),
    )
    # Who accepted an exam shorter than the rule's own D-study asks for, and when (cleared
    # when the rule meets its dependability target again).
    short_exam_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    short_exam_accepted_at = models.DateTimeField(null=True, blank=True)
    applicability_every_vignette = models.BooleanField(default=True)
    use_ci_lower_bound = models.BooleanField(default=False)
    validity_months = models.PositiveIntegerField(default=24)
    retake_wait_days = models.PositiveIntegerField(default=14)
    # What an exam candidate learns of the reference scorings of the cases they were drawn
    # (training.attempts.disclosure). An exam assignment may only tighten it; "never" shows the
    # decision's result and criteria and nothing case by case.
    exam_feedback_policy = models.CharField(
        max_length=16, choices=FeedbackPolicy.choices, default=FeedbackPolicy.NEVER,
        help_text=_("What exam and recalibration candidates see of the reference scorings. "
                    "An exam assignment can only make this stricter."),
    )
    updated_at = models.DateTimeField()

    # Recalibration and drift monitoring of certificate holders; empty = the defaults in
    # training.certification.recalibration.
    recalibration_interval_days = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Days between recalibrations (empty: 30).")
    )
    recalibration_size = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Vignettes per recalibration (empty: 10).")
    )
    # In SD units of the holder's own in-control spread (training.reliability.drift), not
    # in points: the same k and h serve every instrument.
    cusum_slack = models.FloatField(
        null=True, blank=True,
        help_text=_("Drift CUSUM slack k, in SD units of the holder's own deviations "
                    "(empty: 0.25)."),
    )
    cusum_threshold = models.FloatField(
        null=True, blank=True,
        help_text=_("Drift CUSUM threshold h, in SD units of the holder's own deviations "
                    "(empty: 16)."),
    )

    class Meta:
        ordering = ["organization", "instrument__slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "instrument"], name="uniq_certification_rule"
            ),
        ]

    def __str__(self):
        return f"{self.organization}: {self.instrument_id}"


class CertificationDecision(models.Model):
    """The evaluation of one exam attempt against one rule: every criterion with its value,
    threshold, CI and pass/fail (in `criteria`, JSON), frozen when it is made."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="certification_decisions"
    )
    attempt = models.ForeignKey(
        Attempt, on_delete=models.PROTECT, related_name="certification_decisions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="certification_decisions"
    )
    rule = models.ForeignKey(
        CertificationRule, null=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    instrument_version = models.ForeignKey(
        "vignettes.InstrumentVersion", on_delete=models.PROTECT, related_name="+"
    )
    passed = models.BooleanField()
    criteria = models.JSONField(default=list)
    rule_snapshot = models.JSONField(default=dict)
    decided_at = models.DateTimeField()
    # An appeal that overturns this decision makes a new one; this one is kept, marked.
    superseded_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "-pk"]
        constraints = [
            # One decision in force per attempt and instrument version; superseded ones stay.
            models.UniqueConstraint(
                fields=["attempt", "instrument_version"], name="uniq_decision_per_attempt",
                condition=models.Q(superseded_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"Decision {self.pk} ({'pass' if self.passed else 'fail'})"


class CertificateStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    REVOKED = "revoked", _("Revoked")
    SUPERSEDED = "superseded", _("Superseded by a renewal")
    EXPIRED = "expired", _("Expired")


class Certificate(models.Model):
    """Issued on a pass; the organisation's own certification, not the instrument authors'."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="certificates"
    )
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="certificates"
    )
    instrument_version = models.ForeignKey(
        "vignettes.InstrumentVersion", on_delete=models.PROTECT, related_name="+"
    )
    decision = models.OneToOneField(
        CertificationDecision, on_delete=models.PROTECT, related_name="certificate"
    )
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=CertificateStatus.choices, default=CertificateStatus.ACTIVE
    )
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verification_code = models.CharField(max_length=64, unique=True)
    show_full_name = models.BooleanField(
        default=False, help_text=_("The holder's choice: full name or initials on the public page.")
    )
    # The holder's recorded consent to that choice: who made it and when. Empty for a
    # certificate whose holder has not chosen yet (the public page then shows initials).
    display_consented_at = models.DateTimeField(null=True, blank=True)
    display_consented_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    # Its position in the organisation's Bitstring Status Lists (verifiable credentials),
    # assigned when its first credential is signed.
    status_list_index = models.PositiveIntegerField(null=True, blank=True)

    recalibration_due_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Due date of the holder's current recalibration.")
    )
    recalibration_flagged_at = models.DateTimeField(
        null=True, blank=True,
        help_text=_("Set while the certificate is 'recalibration due' (drift or overdue)."),
    )
    recalibration_reason = models.TextField(blank=True)
    # The holder's own in-control baseline, fixed at issue from the exam that certified them
    # (training.certification.drift): {"deviation": {...}, "agreement": {...}}, each a
    # training.reliability.DriftBaseline as a dict. Drift is judged against it.
    drift_baseline = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        indexes = [models.Index(fields=["organization", "status", "expires_at"])]
        constraints = [
            models.UniqueConstraint(fields=["organization", "status_list_index"],
                                    name="uniq_certificate_status_list_index"),
        ]

    def __str__(self):
        return f"Certificate {self.pk} ({self.holder})"

    def effective_status(self, now=None) -> str:
        from django.utils import timezone

        now = now or timezone.now()
        if self.status == CertificateStatus.ACTIVE and self.expires_at <= now:
            return CertificateStatus.EXPIRED
        return self.status


class Recalibration(models.Model):
    """One recalibration a certificate holder must complete: a practice-mode attempt of
    vignettes they have never rated, with a due date. Period n is the holder's n-th."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE,
                                    related_name="recalibrations")
    period = models.PositiveIntegerField()
    attempt = models.OneToOneField(Attempt, null=True, on_delete=models.SET_NULL,
                                   related_name="recalibration")
    from_organization_pool = models.BooleanField(default=True)
    assigned_at = models.DateTimeField()
    due_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["certificate", "period"]
        constraints = [
            models.UniqueConstraint(fields=["certificate", "period"],
                                    name="uniq_recalibration_period"),
        ]

    def __str__(self):
        return f"Recalibration {self.period} of certificate {self.certificate_id}"


class DriftKind(models.TextChoices):
    DEVIATION = "deviation", _("Signed total deviation")
    AGREEMENT = "agreement", _("Rolling item agreement")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Confirmed")  # the admin confirmed the drift
    RESOLVED = "resolved", _("Resolved")


class DriftAlert(models.Model):
    """A CUSUM crossing on a certified rater's ratings, with its evidence (JSON: the series,
    the CUSUM path, the rating ids)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="drift_alerts")
    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE,
                                    related_name="drift_alerts")
    kind = models.CharField(max_length=16, choices=DriftKind.choices)
    evidence = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=AlertStatus.choices,
                              default=AlertStatus.OPEN)
    raised_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-raised_at", "-pk"]

    def __str__(self):
        return f"Drift alert {self.pk} ({self.kind})"


class Reminder(models.Model):
    """An e-mail + in-app notice, sent once per (certificate, kind, period)."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE,
                                    related_name="reminders")
    kind = models.CharField(max_length=32)
    period = models.CharField(max_length=64)
    message = models.TextField(blank=True)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["-sent_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["certificate", "kind", "period"],
                                    name="uniq_reminder_once"),
        ]

    def __str__(self):
        return f"Reminder {self.kind} {self.period}"


# --- Data protection -----------------------------------------------------------------------


class ErasureReason(models.TextChoices):
    REQUEST = "request", _("Erased on request")
    RETENTION = "retention", _("Pseudonymised by the retention policy")


class Erasure(models.Model):
    """One member erased from one organisation. `pseudonym` is the account that now holds the
    organisation's records of them (ratings, certificates...).

    When the person's account was used by this organisation only, it is itself turned into
    the pseudonym and `original_user` stays empty: nothing links the pseudonym to a name any
    more. When the account lives on for another organisation, the records move to a new
    pseudonymous account and `original_user` keeps the link, so that this organisation's
    audit events recorded before `erased_at` (which reference the account and are never
    rewritten) are shown under the pseudonym. The link is shown nowhere in the application.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="erasures")
    pseudonym = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+")
    original_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=16, choices=ErasureReason.choices)
    erased_at = models.DateTimeField()
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-erased_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "pseudonym"],
                                    name="uniq_erasure_pseudonym"),
        ]

    def __str__(self):
        return f"Erasure {self.pk} ({self.pseudonym})"


class AuditRedaction(models.Model):
    """Parts of an audit event hidden because they held an erased member's identifiers by
    value (events recorded before people were referenced by id, and free text such as a
    revocation reason). The event row itself is not changed (except its name snapshots,
    which the erasure replaces by the pseudonym); pages show these parts as redacted. `paths` lists "actor_repr", "object_repr" or JSON paths such as
    ["after", "trainees", 2]."""

    erasure = models.ForeignKey(Erasure, on_delete=models.CASCADE, related_name="redactions")
    event = models.ForeignKey(AuditEvent, on_delete=models.CASCADE, related_name="redactions")
    paths = models.JSONField(default=list)

    class Meta:
        ordering = ["event", "pk"]

    def __str__(self):
        return f"Redaction of audit event {self.event_id}"


# --- Test–retest in recalibration (intra-rater consistency) --------------------------------


class RetestDraw(models.Model):
    """A recalibration-pool case the holder rated in an earlier recalibration, drawn again in
    this recalibration so the organisation can see how consistent the holder is with
    themselves (test–retest). Recorded here only: the holder's pages and API show the case
    like any other (training.certification.retest)."""

    recalibration = models.OneToOneField(Recalibration, on_delete=models.CASCADE,
                                         related_name="retest")
    # The holder's first submitted rating of the same vignette revision on the same
    # instrument version: the first occasion.
    first_rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="retests")
    drawn_at = models.DateTimeField()

    class Meta:
        ordering = ["drawn_at", "pk"]

    def __str__(self):
        return f"Retest of rating {self.first_rating_id} in {self.recalibration}"


# --- Exam path: briefing, undertaking, accommodations, frozen rules ------------------------


class ExamAccommodation(models.Model):
    """Extra time an organisation admin grants one candidate for one exam assignment, before
    they start it; applied to the deadline of the attempts they start afterwards."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="exam_accommodations")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE,
                                   related_name="accommodations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="exam_accommodations")
    extra_minutes = models.PositiveIntegerField()
    reason = models.TextField()
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    granted_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "user"],
                                               name="one_accommodation_per_candidate_exam")]

    def __str__(self):
        return f"+{self.extra_minutes} min for {self.user_id} on {self.assignment_id}"


class ExamStart(models.Model):
    """What was fixed when a candidate started an exam: the confidentiality undertaking they
    accepted (which version of its text, when), the extra time applied, and the certification
    rules as they stood (the decision uses these; later rule edits apply to later exams)."""

    attempt = models.OneToOneField(Attempt, on_delete=models.CASCADE, related_name="exam_start")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    undertaking_version = models.CharField(max_length=32)
    undertaking_accepted_at = models.DateTimeField()
    extra_minutes = models.PositiveIntegerField(default=0)
    rules = models.JSONField(default=dict, help_text=_("Instrument slug -> rule as it stood."))

    def __str__(self):
        return f"Start of exam attempt {self.attempt_id}"


# --- Appeals and voided exam attempts ------------------------------------------------------


class AttemptVoid(models.Model):
    """An exam attempt voided for misconduct: its decisions no longer count and the
    certificates they issued are revoked. An appeal that overturns the void restores them."""

    attempt = models.OneToOneField(Attempt, on_delete=models.PROTECT, related_name="void")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    voided_at = models.DateTimeField()
    revoked_certificates = models.JSONField(
        default=list, blank=True, help_text=_("Ids of the certificates the void revoked.")
    )
    overturned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-voided_at", "-pk"]

    def __str__(self):
        return f"Void of attempt {self.attempt_id}"

    @property
    def in_force(self) -> bool:
        return self.overturned_at is None


class AppealKind(models.TextChoices):
    DECISION = "decision", _("Certification decision")
    SUSPENSION = "suspension", _("Suspension of a certificate")
    REVOCATION = "revocation", _("Revocation of a certificate")
    VOID = "void", _("Voided exam attempt")


class AppealStatus(models.TextChoices):
    OPEN = "open", _("Waiting for a decision")
    UPHELD = "upheld", _("Upheld (the original stands)")
    OVERTURNED = "overturned", _("Overturned")


class Appeal(models.Model):
    """A candidate's appeal against a decision, a suspension, a revocation or a void, and
    its outcome. Exactly one of decision, certificate and attempt_void is set, by kind."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                     related_name="appeals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="appeals")
    kind = models.CharField(max_length=16, choices=AppealKind.choices)
    decision = models.ForeignKey(CertificationDecision, null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="appeals")
    certificate = models.ForeignKey(Certificate, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="appeals")
    attempt_void = models.ForeignKey(AttemptVoid, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="appeals")
    grounds = models.TextField()
    filed_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=AppealStatus.choices,
                              default=AppealStatus.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    decided_by_staff = models.BooleanField(
        default=False, help_text=_("Decided by site staff: no organisation admin was eligible.")
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome_reasons = models.TextField(blank=True)
    re_evaluation = models.JSONField(
        default=dict, blank=True,
        help_text=_("Decision appeals: the criteria re-evaluated when the appeal was decided."),
    )
    new_decision = models.OneToOneField(CertificationDecision, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-filed_at", "-pk"]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self):
        return f"Appeal {self.pk} ({self.kind}, {self.status})"


# --- Verifiable credentials ----------------------------------------------------------------


class CredentialSigningKey(models.Model):
    """One of an organisation's key pairs for signing its verifiable credentials (Open Badges
    3.0 as VC-JWT, and its status lists). The newest unretired key signs; retired keys stay
    published in the organisation's JWK set so credentials they signed still verify. The
    private key is stored encrypted with CREDENTIAL_KEY_ENCRYPTION_KEY, never in clear."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT,
                                     related_name="credential_keys")
    kid = models.CharField(max_length=100, unique=True,
                           help_text=_("The key's RFC 7638 thumbprint, named in each JWT header."))
    algorithm = models.CharField(max_length=16, default="ES256")
    public_jwk = models.JSONField()
    private_key_encrypted = models.TextField()
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Signing key {self.kid} ({self.organization})"

