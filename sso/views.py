"""Sign-in through the company's OpenID provider: start, callback, and signing out (at the
provider too, when it offers RP-initiated logout)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST
from mozilla_django_oidc import views as oidc_views

from steward.proxies import client_address

from . import provider as op
from .backend import oidc_setting
from .errors import SignInRefused
from .services import sign_in_refusal_record


def refused(request: HttpRequest, error: SignInRefused) -> HttpResponse:
    """The page a refused sign-in ends on (403), after its audit entry."""
    sign_in_refusal_record(
        reason=error.reason,
        subject=error.subject,
        email=error.email,
        address=client_address(request),
    )
    return TemplateResponse(
        request,
        "sso/refused.html",
        {"reason": error.reason, "provider_name": op.display_name()},
        status=403,
    )


class SignInStart(oidc_views.OIDCAuthenticationRequestView):
    """Redirects to the provider's authorization endpoint with a fresh state, nonce and PKCE
    challenge, kept in the session for the callback."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.STEWARD_OIDC_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        if not op.is_configured():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = op.provider().authorization_endpoint
        except SignInRefused as error:
            return refused(request, error)
        return super().get(request)


class SignInCallback(oidc_views.OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: the code is exchanged, the ID token checked
    (tokens.py), the account found or made (services.account_sign_in). Any refusal ends on a
    page that says why, with an audit entry; none is a 500. Local-password failures are not
    consulted: the provider does its own throttling."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not op.is_configured():
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except SignInRefused as error:
            return refused(request, error)
        except IntegrityError:  # the same first sign-in twice at once: the other one won
            return refused(
                request, SignInRefused("This sign-in raced another one of yours: start again.")
            )
        except SuspiciousOperation:
            return refused(
                request,
                SignInRefused(
                    "This sign-in was not started from this browser, or was already used "
                    "(state): start again."
                ),
            )

    def login_failure(self) -> HttpResponse:
        request = self.request
        if request.GET.get("error"):
            description = request.GET.get("error_description") or request.GET["error"]
            reason = f"The identity provider did not sign you in: {description[:200]}"
        elif getattr(self, "user", None) is not None and not self.user.is_active:
            reason = "This account is deactivated in Steward."
        else:
            reason = "This sign-in was not started from this browser (no state): start again."
        return refused(request, SignInRefused(reason))


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Signs out of Steward; when the session came from the provider and the provider has an
    end_session_endpoint, on to it (RP-initiated logout) to end the provider's session too."""
    id_token = request.session.get("oidc_id_token")
    auth.logout(request)
    target = resolve_url(settings.LOGOUT_REDIRECT_URL)
    if id_token and op.is_configured():
        try:
            end_session = op.provider().end_session_endpoint
        except SignInRefused:
            end_session = ""
        if end_session:
            query = urlencode(
                {
                    "id_token_hint": id_token,
                    "client_id": settings.STEWARD_OIDC_CLIENT_ID,
                    "post_logout_redirect_uri": request.build_absolute_uri(target),
                }
            )
            return HttpResponseRedirect(f"{end_session}?{query}")
    return HttpResponseRedirect(target)
