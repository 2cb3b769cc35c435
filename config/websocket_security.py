"""The chat socket's handshake check: its Host and Origin judged as Django judges an HTTP request's.

A browser sends its cookies to every port of a host and lets any page open a WebSocket, so the
handshake must show that it comes from one of our own pages. It may proceed only when

(a) its Host is one Django would serve over HTTP: `ALLOWED_HOSTS`, applied by Django's own
    `HttpRequest.get_host()` (X-Forwarded-Host only with `USE_X_FORWARDED_HOST`, the server's
    address when there is no Host header, the local default with `DEBUG` and no list), and
(b) its Origin is the request's own origin, scheme, host and port (ws means http, wss https, a
    proxy's `X-Forwarded-Proto` counts only as `SECURE_PROXY_SSL_HEADER` says) or is listed in
    `CSRF_TRUSTED_ORIGINS` (with Django's `https://*.example.com` wildcards): the rule of
    Django's `CsrfViewMiddleware` for the Origin of a POST.

Anything else, a missing Origin included, is refused before the session is read: the server
answers the handshake with 403.
"""

import io
import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http.request import HttpRequest
from django.utils.http import is_same_domain

logger = logging.getLogger(__name__)

HTTP_SCHEME = {"ws": "http", "wss": "https"}


def handshake_request(scope) -> HttpRequest:
    """The handshake as Django's HTTP request, so that Django's rules for host and scheme apply."""
    scheme = HTTP_SCHEME.get(scope.get("scheme") or "ws", "http")
    return ASGIRequest({**scope, "type": "http", "method": "GET", "scheme": scheme}, io.BytesIO())


def is_trusted_origin(origin: str) -> bool:
    """Listed in CSRF_TRUSTED_ORIGINS, exactly or under a `scheme://*.domain` wildcard."""
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, pattern.netloc.lstrip("*"))
        for pattern in (urlsplit(entry) for entry in trusted if "*" in entry)
        if pattern.scheme == parsed.scheme
    )


def handshake_refusal(scope) -> str | None:
    """Why this handshake is refused, or None when it may proceed."""
    request = handshake_request(scope)
    origin = request.META.get("HTTP_ORIGIN")
    if not origin:
        return "no Origin header"
    try:
        host = request.get_host()
    except DisallowedHost:
        return f"Host {request.META.get('HTTP_HOST', '')!r} is not in ALLOWED_HOSTS"
    own_origin = f"{'https' if request.is_secure() else 'http'}://{host}"
    if origin == own_origin or is_trusted_origin(origin):
        return None
    return f"Origin {origin!r} is neither {own_origin!r} nor in CSRF_TRUSTED_ORIGINS"


class HandshakeValidator:
    """ASGI middleware for the socket route: refuse a handshake `handshake_refusal` objects to."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("HandshakeValidator guards WebSocket connections only.")
        reason = handshake_refusal(scope)
        if reason is None:
            return await self.application(scope, receive, send)
        logger.warning("WebSocket handshake refused: %s", reason)
        return await WebsocketDenier()(scope, receive, send)
