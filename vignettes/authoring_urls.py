from django.urls import path

from vignettes import authoring_views as views

app_name = "author"
urlpatterns = [
    path("", views.index, name="index"),
    path("vignettes/new/", views.vignette_new, name="vignette-new"),
    path("vignettes/<int:pk>/", views.vignette_detail, name="vignette"),
    path("vignettes/<int:pk>/edit/", views.vignette_edit, name="vignette-edit"),
    path("vignettes/<int:pk>/status/", views.vignette_transition, name="vignette-transition"),
    path("vignettes/<int:pk>/panels/new/", views.panel_new, name="panel-new"),
    path(
        "vignettes/<int:pk>/references/<slug:instrument>/correct/",
        views.reference_correct,
        name="reference-correct",
    ),
    path("panels/<int:pk>/", views.panel_detail, name="panel"),
    path("sets/new/", views.set_form, name="set-new"),
    path("sets/<int:pk>/", views.set_form, name="set-edit"),
    path("packs/export/", views.pack_export, name="pack-export"),
    path("packs/import/", views.pack_import, name="pack-import"),
]
