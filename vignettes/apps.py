from django.apps import AppConfig


class VignettesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "vignettes"
    verbose_name = "Content"
