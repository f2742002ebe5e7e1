from django.urls import path

from vignettes import views

app_name = "vignettes"
urlpatterns = [
    path("", views.library, name="library"),
    path("<slug:slug>/", views.vignette_detail, name="detail"),
]
