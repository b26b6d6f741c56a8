"""The Xero fake's identity service: the consent page, the token endpoint (code with
PKCE, rotating refresh tokens), revocation, and bearer checks."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode

from integrations.tests.fakes.base import Reply, Request

from .xero_wire import ACCESS_SECONDS, CLIENT_ID, CLIENT_SECRET


class IdentityMixin:
    def _authorize(self, request: Request) -> Reply:
        """The user consents at once: redirect to the app with a code and the state."""
        query = request.query
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return Reply(400, {"error": "unauthorized_client"})
        if query.get("code_challenge_method") != "S256" or not query.get(
            "code_challenge"
        ):
            return Reply(400, {"error": "invalid_request", "error_description": "PKCE"})
        code = secrets.token_urlsafe(16)
        self.codes[code] = dict(query)
        answer = urlencode({"code": code, "state": query.get("state", "")})
        location = f"{query['redirect_uri']}?{answer}"
        return Reply(302, b"", {"Location": location, "Content-Type": "text/plain"})

    def _client_ok(self, request: Request) -> bool:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def _token(self, request: Request) -> Reply:
        if not self._client_ok(request):
            return Reply(400, {"error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            asked = self.codes.pop(form.get("code", ""), None)
            if asked is None or asked.get("redirect_uri") != form.get("redirect_uri"):
                return Reply(400, {"error": "invalid_grant"})
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest())
            if challenge.decode().rstrip("=") != asked.get("code_challenge"):
                return Reply(
                    400,
                    {"error": "invalid_grant", "error_description": "code_verifier"},
                )
        elif grant == "refresh_token":
            token = form.get("refresh_token", "")
            with self._state_lock:
                if token not in self.refresh_tokens:
                    return Reply(400, {"error": "invalid_grant"})
                self.refresh_tokens.discard(token)  # refresh tokens rotate
        else:
            return Reply(400, {"error": "unsupported_grant_type"})
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self._state_lock:
            self.access_tokens[access] = self.clock() + ACCESS_SECONDS
            self.refresh_tokens.add(refresh)
        return Reply(
            200,
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": ACCESS_SECONDS,
                "token_type": "Bearer",
                "scope": "offline_access accounting.transactions accounting.contacts "
                "accounting.settings.read",
            },
        )

    def _revoke(self, request: Request) -> Reply:
        if not self._client_ok(request):
            return Reply(400, {"error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        token = form.get("token", "")
        with self._state_lock:
            self.refresh_tokens.discard(token)
            self.revoked.append(token)
            self.access_tokens.clear()  # revoking ends the app's access
        return Reply(200, b"", {"Content-Type": "text/plain"})

    def _bearer_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        expiry = self.access_tokens.get(token)
        return expiry is not None and expiry > self.clock()
