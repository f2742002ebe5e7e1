from django.urls import path

from vignettes.authoring import views as authoring_views

app_name = "author"
urlpatterns = [
    path("", authoring_views.index, name="index"),
    path("vignettes/new/", authoring_views.vignette_new, name="vignette-new"),
    path("vignettes/<int:pk>/", authoring_views.vignette_detail, name="vignette"),
    path("vignettes/<int:pk>/edit/", authoring_views.vignette_edit, name="vignette-edit"),
    path("vignettes/<int:pk>/status/", authoring_views.vignette_transition, name="vignette-transition"),
    path("vignettes/<int:pk>/panels/new/", authoring_views.panel_new, name="panel-new"),
    path(
        "vignettes/<int:pk>/references/<slug:instrument>/correct/",
        authoring_views.reference_correct,
        name="reference-correct",
    ),
    path("panels/<int:pk>/", authoring_views.panel_detail, name="panel"),
    path("sets/new/", authoring_views.set_form, name="set-new"),
    path("sets/<int:pk>/", authoring_views.set_form, name="set-edit"),
    path("packs/export/", authoring_views.pack_export, name="pack-export"),
    path("packs/import/", authoring_views.pack_import, name="pack-import"),
]
