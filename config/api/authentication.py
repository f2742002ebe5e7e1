"""The authentication class for API tokens, apart from the views: DRF's settings import it
while rest_framework.views is still loading."""

import binascii

from django.utils.translation import gettext_lazy
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from training.accounts import tokens


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <token>`. An expired, revoked or unknown token answers 401 with
    one message that says what to do; a token that works has its "last used" time noted."""

    message = gettext_lazy("Invalid or expired token: ask for a new one with POST "
                           "/api/v1/auth/token/.")

    def authenticate_credentials(self, token):
        try:
            token.decode("ascii")
        except UnicodeDecodeError:
            # Tokens are hex digits; anything else is not a token (and must not be a 500).
            raise exceptions.AuthenticationFailed(self.message) from None
        try:
            user, auth_token = super().authenticate_credentials(token)
        except (exceptions.AuthenticationFailed, TypeError, ValueError, binascii.Error):
            raise exceptions.AuthenticationFailed(self.message) from None
        tokens.api_token_touch(token=auth_token)
        return user, auth_token
