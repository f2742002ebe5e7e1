"""Admin for site staff. Bundled content (no owner) is read-only here: its files are the
source of truth, loaded with `manage.py load_content`. Revisions and versions are immutable
everywhere, so they are only ever viewed."""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from vignettes.models import (
    Band,
    Instrument,
    InstrumentVersion,
    Item,
    ItemValue,
    ReferenceItemScore,
    ReferenceScoring,
    Vignette,
    VignetteRevision,
    VignetteSet,
    VignetteSetMember,
)
from vignettes.rendering import render_markdown


class ReadOnlyMixin:
    """Immutable rows: viewable, never added, changed or deleted in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BundledReadOnlyMixin:
    """Bundled content (owner empty) is read-only; organisations' content is editable."""

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.owner_id is None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.owner_id is None:
            return False
        return super().has_delete_permission(request, obj)


class ItemValueInline(ReadOnlyMixin, admin.TabularInline):
    model = ItemValue
    fields = ["value", "label", "order"]
    extra = 0


class ItemInline(ReadOnlyMixin, admin.StackedInline):
    model = Item
    fields = ["code", "order", "name", "description", "coding_notes", "omissible", "omission_rule",
              "values_display"]
    readonly_fields = ["values_display"]
    extra = 0
    show_change_link = True

    @admin.display(description=_("Allowed values"))
    def values_display(self, obj):
        return "; ".join(f"{v.value} = {v.label}" for v in obj.allowed_values.all())


class BandInline(ReadOnlyMixin, admin.TabularInline):
    model = Band
    fields = ["code", "label", "min_total", "max_total", "order"]
    extra = 0


@admin.register(InstrumentVersion)
class InstrumentVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["instrument", "number", "version_label", "kind", "created_at"]
    list_filter = ["instrument", "kind"]
    search_fields = ["instrument__slug", "instrument__name", "items__code", "items__name"]
    fields = ["instrument", "number", "version_label", "kind", "description", "source", "notice",
              "applicability_rule", "content_hash", "created_at"]
    readonly_fields = fields
    inlines = [ItemInline, BandInline]


@admin.register(Item)
class ItemAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["code", "name", "instrument_version", "omissible"]
    list_filter = ["instrument_version__instrument", "omissible"]
    search_fields = ["code", "name", "description", "coding_notes"]
    inlines = [ItemValueInline]


class InstrumentVersionInline(ReadOnlyMixin, admin.TabularInline):
    model = InstrumentVersion
    fields = ["number", "version_label", "kind", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Instrument)
class InstrumentAdmin(BundledReadOnlyMixin, admin.ModelAdmin):
    list_display = ["short_name", "slug", "name", "owner", "current_version"]
    list_filter = [("owner", admin.EmptyFieldListFilter)]
    search_fields = ["slug", "name", "short_name"]
    readonly_fields = ["current_version"]
    inlines = [InstrumentVersionInline]


class ReferenceItemScoreInline(ReadOnlyMixin, admin.TabularInline):
    model = ReferenceItemScore
    fields = ["item", "value", "rationale"]
    readonly_fields = fields
    extra = 0


@admin.register(ReferenceScoring)
class ReferenceScoringAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["vignette_revision", "instrument_version", "number", "applicable",
                    "total_display", "band_display", "agreed_on"]
    list_filter = ["instrument_version__instrument", "applicable",
                   "vignette_revision__vignette__pool"]
    search_fields = ["vignette_revision__vignette__slug", "vignette_revision__title", "panel"]
    fields = ["vignette_revision", "instrument_version", "number", "applicable",
              "not_applicable_reason", "total_display", "band_display", "panel", "agreed_on",
              "content_hash", "created_at"]
    readonly_fields = fields
    inlines = [ReferenceItemScoreInline]

    @admin.display(description=_("Total"))
    def total_display(self, obj):
        result = obj.result()
        return result.total if result else "-"

    @admin.display(description=_("Band"))
    def band_display(self, obj):
        result = obj.result()
        return result.band.label if result and result.band else "-"


class ReferenceScoringInline(ReadOnlyMixin, admin.TabularInline):
    model = ReferenceScoring
    fields = ["instrument_version", "number", "applicable", "not_applicable_reason", "agreed_on"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(VignetteRevision)
class VignetteRevisionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["vignette", "number", "title", "difficulty", "created_at"]
    list_filter = ["difficulty", "vignette__pool", "vignette__status"]
    search_fields = ["vignette__slug", "title", "body"]
    fields = ["vignette", "number", "title", "case_types", "difficulty", "hard_because",
              "word_count", "preview", "content_hash", "created_at"]
    readonly_fields = fields
    inlines = [ReferenceScoringInline]

    @admin.display(description=_("Case file (sanitised preview)"))
    def preview(self, obj):
        return format_html('<div class="case-file-preview">{}</div>', render_markdown(obj.body))


class VignetteRevisionInline(ReadOnlyMixin, admin.TabularInline):
    model = VignetteRevision
    fields = ["number", "title", "difficulty", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Vignette)
class VignetteAdmin(BundledReadOnlyMixin, admin.ModelAdmin):
    list_display = ["slug", "title", "pool", "status", "owner", "difficulty"]
    list_filter = ["pool", "status", ("owner", admin.EmptyFieldListFilter),
                   "current_revision__difficulty"]
    search_fields = ["slug", "current_revision__title", "current_revision__body"]
    fields = ["slug", "owner", "pool", "status", "current_revision", "preview"]
    readonly_fields = ["current_revision", "preview"]
    inlines = [VignetteRevisionInline]

    @admin.display(description=_("Title"))
    def title(self, obj):
        return obj.current_revision.title if obj.current_revision else ""

    @admin.display(description=_("Difficulty"))
    def difficulty(self, obj):
        return obj.current_revision.get_difficulty_display() if obj.current_revision else ""

    @admin.display(description=_("Case file (sanitised preview)"))
    def preview(self, obj):
        if not obj.current_revision:
            return "-"
        return format_html(
            '<div class="case-file-preview">{}</div>', render_markdown(obj.current_revision.body)
        )


class VignetteSetMemberInline(admin.TabularInline):
    model = VignetteSetMember
    fields = ["order", "vignette"]
    extra = 0

    def _bundled(self, obj):
        return obj is not None and obj.owner_id is None

    def has_add_permission(self, request, obj=None):
        return not self._bundled(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._bundled(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._bundled(obj) and super().has_delete_permission(request, obj)


@admin.register(VignetteSet)
class VignetteSetAdmin(BundledReadOnlyMixin, admin.ModelAdmin):
    list_display = ["slug", "title", "kind", "instrument", "owner"]
    list_filter = ["kind", "instrument", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["slug", "title"]
    readonly_fields = ["content_hash"]
    inlines = [VignetteSetMemberInline]
