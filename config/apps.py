from django.contrib.admin.apps import AdminConfig


class CalibrateAdminConfig(AdminConfig):
    """Django's admin on Calibrate's admin site (config/admin.py)."""

    default_site = "config.admin.CalibrateAdminSite"
