"""Verifiable credentials over HTTP: the holder's (or an org admin's) download, and the public
side a verifier needs: the issuer profile, its JWK set, its status lists and the JSON-LD
contexts the credentials name. Thin."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from training.certification import certificates as certificate_services
from training.certification.credentials import badges, keys, status_list
from training.exceptions import Conflict
from training.models import Organization
from training.tenancy import with_membership

CONTEXTS_DIR = Path(__file__).resolve().parent / "contexts"
CONTEXT_FILES = {"credentials/v2": "credentials-v2.jsonld",
                 "ob/v3p0/context-3.0.3.json": "ob-v3p0-context-3.0.3.json"}


@never_cache
@require_GET
@with_membership()
def credential_download(request, certificate_id):
    """The certificate as an Open Badges 3.0 VC-JWT file: its holder's, or any of the
    organisation's for an org admin (else 404)."""
    cert = certificate_services.certificate_for_viewer(
        membership=request.membership, certificate_id=certificate_id)
    try:
        token = badges.certificate_credential(cert=cert, actor=request.user)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("cert:certificate", certificate_id=cert.pk)
    response = HttpResponse(token, content_type=badges.MEDIA_TYPE)
    slug = cert.instrument_version.instrument.slug
    response["Content-Disposition"] = (
        f'attachment; filename="certificate-{slug}-{cert.pk}.jwt"')
    return response


def _issuer(slug: str) -> Organization:
    """An organisation that has signed credentials; any other slug answers 404 alike, so the
    public side says nothing about organisations that issue none (and a public GET never
    creates a key)."""
    organization = get_object_or_404(Organization, slug=slug)
    if not keys.has_signed(organization):
        raise Http404("No such issuer.")
    return organization


def _public(response, *, max_age=300):
    """Cacheable by anyone and readable from any origin: verifiers run anywhere."""
    response["Cache-Control"] = f"public, max-age={max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _public_json(data: dict, *, content_type="application/json", max_age=300):
    return _public(JsonResponse(data, content_type=content_type,
                                json_dumps_params={"ensure_ascii": False}), max_age=max_age)


@require_GET
def issuer(request, slug):
    return _public_json(badges.issuer_profile(_issuer(slug)),
                        content_type="application/ld+json")


@require_GET
def jwks(request, slug):
    """Every public key the organisation has signed with (retired ones too)."""
    return _public_json(keys.jwk_set(_issuer(slug)), content_type="application/jwk-set+json")


@require_GET
def status_list_credential(request, slug, purpose):
    organization = _issuer(slug)
    if purpose not in status_list.PURPOSES:
        raise Http404("No such status list.")
    token = badges.status_list_credential(organization, purpose)
    return _public(HttpResponse(token, content_type=badges.MEDIA_TYPE))


@require_GET
def context(request, name):
    filename = CONTEXT_FILES.get(name)
    if filename is None:
        raise Http404("No such context.")
    # Byte for byte as published: a context is identified by its URL and must not change.
    return _public(HttpResponse((CONTEXTS_DIR / filename).read_bytes(),
                                content_type="application/ld+json"), max_age=86400)
