"""Errors services raise beyond Django's ValidationError (400) and Http404. Both apps and
every area import them, so they live apart from everything else."""

from django.http import Http404


class Conflict(Exception):
    """The request conflicts with the current state (HTTP 409): a stale revision, a second
    submission, a change to submitted work. Nothing was changed."""

    def __init__(self, message: str, *, code: str = "conflict", **extra):
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra


class ObjectInOtherOrganization(Http404):
    """An object looked up by id inside the active organisation exists, but in another one.

    The person gets exactly the answer a missing object gets (`missing`); the page and API
    boundaries (`with_membership`, `OrganizationScopedApi`) record the attempt first
    (training/security.py). Anywhere else it is simply that same 404."""

    def __init__(self, *, missing: Exception, object_type: str, object_id,
                 object_organization_id: int):
        super().__init__(*getattr(missing, "args", ()))
        self.missing = missing
        self.object_type = object_type
        self.object_id = str(object_id)
        self.object_organization_id = object_organization_id
