from django.urls import path

from vignettes import api

urlpatterns = [
    path("instruments/", api.InstrumentListApi.as_view(), name="instrument-list"),
    path("vignettes/", api.VignetteListApi.as_view(), name="vignette-list"),
    path("vignettes/<slug:slug>/", api.VignetteDetailApi.as_view(), name="vignette-detail"),
]
