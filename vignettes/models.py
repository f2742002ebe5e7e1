"""Content: instruments, vignettes, reference scorings and sets, as immutable revisions.

Instrument versions, vignette revisions and reference scorings are never edited once created:
a change (detected by content hash) creates a new row, and everything that was scored or
compared keeps pointing at the exact row it used.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from vignettes import scoring

_SPEC_CACHE: dict[int, scoring.InstrumentSpec] = {}


class Pool(models.TextChoices):
    PRACTICE = "practice", _("Practice")
    EXAM = "exam", _("Exam")
    RECALIBRATION = "recalibration", _("Recalibration")


class ContentStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


class Difficulty(models.TextChoices):
    INTRODUCTORY = "introductory", _("Introductory")
    STANDARD = "standard", _("Standard")
    HARD = "hard", _("Hard")


class CaseType(models.TextChoices):
    CSEM_EXCLUSIVE = "csem-exclusive", _("CSEM only, no known contact offence")
    CSEM_CONTACT_CONVICTION = "csem-contact-conviction", _("CSEM with a contact conviction")
    CSEM_CONTACT_CHARGED = "csem-contact-charged", _(
        "CSEM with a contact offence charged but not convicted")
    CSEM_ADMITTED_CONTACT = "csem-admitted-contact", _("CSEM with admitted, unrecorded contact")
    LURING_REAL_CHILD = "luring-real-child", _("Luring a real child")
    LURING_DECOY = "luring-decoy", _("Luring a police decoy")
    SEXTORTION = "sextortion", _("Sextortion")
    NCII_ADULT = "ncii-adult", _("Sharing intimate images of adults")
    CONTACT_ONLY = "contact-only", _("Contact offending without CSEM")


def next_number(rows: QuerySet, *, field: str = "number") -> int:
    """The number a new revision (version, reference, period) takes after `rows`: one more
    than the highest so far, 1 for the first. Works on a `select_for_update()` query, which
    then locks the latest row while the new one is written."""
    latest = rows.order_by(f"-{field}").values_list(field, flat=True).first()
    return (latest or 0) + 1


class OwnedContentQuerySet(models.QuerySet):
    def bundled(self) -> QuerySet:
        """Content shipped with the platform (no owner): read-only, its files are its source."""
        return self.filter(owner__isnull=True)

    def visible_to(self, organization) -> QuerySet:
        """What an organisation may use: the bundled content and its own (bundled only when
        there is no organisation)."""
        visible = Q(owner__isnull=True)
        if organization is not None:
            visible |= Q(owner=organization)
        return self.filter(visible)


def _owner_field(related_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        "training.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name=related_name,
        help_text=_("Empty for bundled content."),
    )


def unique_slug_per_owner(name: str) -> list[models.UniqueConstraint]:
    """A slug names one bundled item and, separately, one item per organisation (NULL owners
    never collide in a plain unique constraint, hence the partial one for bundled content)."""
    return [
        models.UniqueConstraint(
            fields=["slug"], condition=Q(owner__isnull=True), name=f"uniq_bundled_{name}"
        ),
        models.UniqueConstraint(fields=["owner", "slug"], name=f"uniq_owned_{name}"),
    ]


class OwnedContent(models.Model):
    """Content that is either bundled (no owner) or one organisation's private content."""

    owner = _owner_field("%(class)ss")

    objects = OwnedContentQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_bundled(self) -> bool:
        return self.owner_id is None


class Instrument(OwnedContent):
    """An instrument's identity across its versions (CPORT, STABLE-2007, ...)."""

    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    short_name = models.CharField(max_length=64)
    current_version = models.ForeignKey(
        "InstrumentVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["short_name"]
        constraints = unique_slug_per_owner("instrument")

    def __str__(self):
        return self.short_name

    @property
    def published_bands(self) -> tuple[scoring.BandSpec, ...]:
        """The risk bands of the instrument's published scheme, judged on its current version;
        empty when the scheme defines none (CPORT's authors publish rates by score, not
        categories). Band agreement, decision consistency and every band a page shows start
        from here, so a past rating scored on an older version whose bands were never the
        authors' shows none either; its stored band code stays as it was."""
        version = self.current_version
        return version.spec.bands if version is not None else ()

    @property
    def has_bands(self) -> bool:
        return bool(self.published_bands)


class InstrumentVersion(models.Model):
    """One immutable definition of an instrument: items, values, bands, rules."""

    class Kind(models.TextChoices):
        STATIC = "static", _("Static")
        DYNAMIC = "dynamic", _("Dynamic")

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(help_text=_("1, 2, ... in order of loading."))
    version_label = models.CharField(max_length=32, help_text=_("The version named in the file."))
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.TextField()
    source = models.TextField(help_text=_("Publications the definition is based on."))
    notice = models.TextField(help_text=_("That the official manual governs real assessments."))
    applicability_rule = models.TextField()
    # The file's missing_information block: which items may be omitted for lack of
    # information, how many at most, what becomes of the total (vignettes/scoring.py).
    missing_information = models.JSONField(default=dict, blank=True)
    rating_period = models.TextField(
        blank=True, help_text=_("The period the items are rated over, where the file says.")
    )
    validity_caveats = models.JSONField(
        default=list, blank=True,
        help_text=_("Caveats feedback carries for some case types: "
                    "[{if_only_case_types, text, source}]."),
    )
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instrument", "number"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "number"], name="uniq_instrument_number"),
        ]

    def __str__(self):
        return f"{self.instrument.short_name} {self.version_label} (revision {self.number})"

    @property
    def spec(self) -> scoring.InstrumentSpec:
        # Versions are immutable, so their spec is computed once per process.
        spec = _SPEC_CACHE.get(self.pk)
        if spec is None:
            spec = _SPEC_CACHE[self.pk] = self._build_spec()
        return spec

    @property
    def shown_bands(self) -> tuple[scoring.BandSpec, ...]:
        """This version's bands, or none when the instrument no longer has bands at all."""
        return self.spec.bands if self.instrument.has_bands else ()

    def _build_spec(self) -> scoring.InstrumentSpec:
        missing = scoring.missing_rule_from(self.missing_information)
        missing_items = set(missing.items) if missing else set()
        items = tuple(
            scoring.ItemSpec(
                code=item.code,
                values=tuple(v.value for v in item.allowed_values.all()),
                omissible=item.omissible,
                name=item.name,
                missing_ok=item.code in missing_items,
            )
            for item in self.items.prefetch_related("allowed_values")
        )
        bands = tuple(
            scoring.BandSpec(b.code, b.label, b.min_total, b.max_total) for b in self.bands.all()
        )
        return scoring.InstrumentSpec(slug=self.instrument.slug, items=items, bands=bands,
                                      missing=missing)


class Item(models.Model):
    instrument_version = models.ForeignKey(
        InstrumentVersion, on_delete=models.PROTECT, related_name="items"
    )
    code = models.CharField(max_length=32)
    order = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    description = models.TextField()
    coding_notes = models.TextField(help_text=_("The project's own coding notes."))
    omissible = models.BooleanField(default=False)
    omission_rule = models.TextField(blank=True)

    class Meta:
        ordering = ["instrument_version", "order"]
        constraints = [
            models.UniqueConstraint(fields=["instrument_version", "code"], name="uniq_item_code"),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def missing_ok(self) -> bool:
        """May be omitted for lack of information (the version's missing-information rule)."""
        rule = self.instrument_version.missing_information or {}
        return self.code in (rule.get("items") or ())

    @property
    def may_omit(self) -> bool:
        return self.omissible or self.missing_ok


class ItemValue(models.Model):
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="allowed_values")
    value = models.IntegerField()
    label = models.CharField(max_length=200)
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["item", "order"]
        constraints = [
            models.UniqueConstraint(fields=["item", "value"], name="uniq_item_value"),
        ]

    def __str__(self):
        return f"{self.value}: {self.label}"


class Band(models.Model):
    instrument_version = models.ForeignKey(
        InstrumentVersion, on_delete=models.PROTECT, related_name="bands"
    )
    code = models.CharField(max_length=32)
    label = models.CharField(max_length=200)
    min_total = models.IntegerField()
    max_total = models.IntegerField()
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["instrument_version", "order"]
        constraints = [
            models.UniqueConstraint(fields=["instrument_version", "code"], name="uniq_band_code"),
        ]

    def __str__(self):
        return self.label


class Vignette(OwnedContent):
    """A case's identity; its text lives in immutable revisions."""

    slug = models.SlugField(max_length=100)
    pool = models.CharField(max_length=16, choices=Pool.choices, default=Pool.PRACTICE)
    status = models.CharField(
        max_length=16, choices=ContentStatus.choices, default=ContentStatus.DRAFT
    )
    current_revision = models.ForeignKey(
        "VignetteRevision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Slugs the vignette was known by (its file's `formerly:` list): old URLs redirect here.
    former_slugs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["slug"]
        constraints = unique_slug_per_owner("vignette")

    def __str__(self):
        return self.slug


class VignetteRevision(models.Model):
    vignette = models.ForeignKey(Vignette, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    case_types = models.JSONField(default=list)
    difficulty = models.CharField(max_length=16, choices=Difficulty.choices)
    hard_because = models.TextField(blank=True)
    body = models.TextField(help_text=_("The case file, in Markdown."))
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["vignette", "number"]
        constraints = [
            models.UniqueConstraint(fields=["vignette", "number"], name="uniq_vignette_revision"),
        ]

    def __str__(self):
        return f"{self.vignette.slug} revision {self.number}"

    @property
    def word_count(self) -> int:
        return len(self.body.split())


class ReferenceScoring(models.Model):
    """The expert reference for one vignette revision on one instrument version.

    Corrections create a new row with a higher number; ratings keep the row they were
    compared against.
    """

    vignette_revision = models.ForeignKey(
        VignetteRevision, on_delete=models.PROTECT, related_name="reference_scorings"
    )
    instrument_version = models.ForeignKey(
        InstrumentVersion, on_delete=models.PROTECT, related_name="reference_scorings"
    )
    number = models.PositiveIntegerField()
    applicable = models.BooleanField()
    not_applicable_reason = models.TextField(blank=True)
    panel = models.CharField(max_length=300, help_text=_("The panel that agreed it."))
    agreed_on = models.DateField()
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    source_panel = models.ForeignKey(
        "ReferencePanel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="references",
        help_text=_("The in-app panel whose consensus this is (provenance)."),
    )
    agreement = models.JSONField(null=True, blank=True, help_text=_("The panel's agreement."))

    class Meta:
        ordering = ["vignette_revision", "instrument_version", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["vignette_revision", "instrument_version", "number"],
                name="uniq_reference_number",
            ),
        ]

    def __str__(self):
        return (
            f"Reference {self.number} for {self.vignette_revision} on {self.instrument_version}"
        )

    def item_states(self) -> dict[str, int | None]:
        return {s.item.code: s.value for s in self.item_scores.select_related("item")}

    def result(self) -> scoring.ScoreResult | None:
        if not self.applicable:
            return None
        return scoring.score(self.instrument_version.spec, self.item_states())


class ReferenceItemScore(models.Model):
    reference_scoring = models.ForeignKey(
        ReferenceScoring, on_delete=models.PROTECT, related_name="item_scores"
    )
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    value = models.IntegerField(null=True, blank=True, help_text=_("Empty = omitted."))
    rationale = models.TextField()

    class Meta:
        ordering = ["reference_scoring", "item__order"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference_scoring", "item"], name="uniq_reference_item"
            ),
        ]

    def __str__(self):
        return f"{self.item.code} = {self.value}"


class VignetteSet(OwnedContent):
    class Kind(models.TextChoices):
        PRACTICE = "practice", _("Practice set")
        EXAM = "exam", _("Exam pool")

    slug = models.SlugField(max_length=100)
    # The reverse accessor keeps its name (organization.vignette_sets), not "vignettesets".
    owner = _owner_field("vignette_sets")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    instrument = models.ForeignKey(
        Instrument, null=True, blank=True, on_delete=models.PROTECT, related_name="sets"
    )
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["slug"]
        constraints = unique_slug_per_owner("set")

    def __str__(self):
        return self.title


class VignetteSetMember(models.Model):
    vignette_set = models.ForeignKey(VignetteSet, on_delete=models.CASCADE, related_name="members")
    vignette = models.ForeignKey(Vignette, on_delete=models.PROTECT, related_name="set_members")
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["vignette_set", "order"]
        constraints = [
            models.UniqueConstraint(fields=["vignette_set", "vignette"], name="uniq_set_member"),
        ]

    def __str__(self):
        return f"{self.vignette_set.slug}[{self.order}] {self.vignette.slug}"


# --- Authoring: reference panels and corrections -------------------------------------------


class ReferencePanel(models.Model):
    """Experts of an organisation who score one draft vignette revision independently on
    every instrument it covers (each expert first decides which instruments apply; those that
    do not get no item coding); the lead then records the consensus references."""

    class Status(models.TextChoices):
        SCORING = "scoring", _("Scoring independently")
        AGREED = "agreed", _("Consensus recorded")

    vignette = models.ForeignKey(Vignette, on_delete=models.PROTECT, related_name="panels")
    vignette_revision = models.ForeignKey(
        VignetteRevision, on_delete=models.PROTECT, related_name="panels"
    )
    instrument_versions = models.ManyToManyField(InstrumentVersion, related_name="panels")
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="led_reference_panels"
    )
    created_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCORING)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Panel on {self.vignette_revision}"


class PanelMember(models.Model):
    panel = models.ForeignKey(ReferencePanel, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["panel", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["panel", "user"], name="uniq_panel_member"),
        ]

    def __str__(self):
        return f"{self.user} on {self.panel}"


class PanelScoring(models.Model):
    """One expert's independent scoring of one instrument of the panel (an expert submits
    every instrument at once); never shown to the others before all have scored."""

    panel = models.ForeignKey(ReferencePanel, on_delete=models.CASCADE, related_name="scorings")
    member = models.ForeignKey(PanelMember, on_delete=models.CASCADE, related_name="scorings")
    instrument_version = models.ForeignKey(
        InstrumentVersion, on_delete=models.PROTECT, related_name="panel_scorings"
    )
    applicable = models.BooleanField()
    not_applicable_reason = models.TextField(blank=True)
    codes = models.JSONField(default=dict, help_text=_("item code -> value (null = omitted)"))
    rationales = models.JSONField(default=dict, help_text=_("item code -> rationale"))
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["panel", "member"]
        constraints = [
            models.UniqueConstraint(fields=["member", "instrument_version"],
                                    name="uniq_panel_scoring_per_instrument"),
        ]

    def __str__(self):
        return f"Scoring by {self.member.user} on {self.panel}"


class CorrectionDecision(models.Model):
    """The instructor's recorded choice when a corrected reference replaces an earlier one."""

    old_reference = models.ForeignKey(
        ReferenceScoring, on_delete=models.PROTECT, related_name="corrections_from"
    )
    new_reference = models.ForeignKey(
        ReferenceScoring, on_delete=models.PROTECT, related_name="corrections_to"
    )
    # Empty for a bundled reference corrected in its file: the file's `correction` records
    # the decision, and the bundled-content panel made it.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    re_evaluate = models.BooleanField()
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"Correction {self.old_reference_id} -> {self.new_reference_id}"
