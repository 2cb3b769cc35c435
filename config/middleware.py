"""The security headers every response carries: what a page may load, use and be embedded by.

Two layers apply the one table below, each keeping a header a response already set:

- `SecurityHeadersMiddleware` (Django middleware) for everything Django's middleware chain
  answers, which is also what Django's test client sees;
- `SecurityHeadersASGI` (config/asgi.py) for everything the server sends, because WhiteNoise
  answers static files from inside the middleware chain, before the middleware after it runs.

`Cross-Origin-Opener-Policy: same-origin` comes from Django's SecurityMiddleware
(`SECURE_CROSS_ORIGIN_OPENER_POLICY`, default "same-origin"), which wraps WhiteNoise.
"""

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)

# Powerful features a chat page never uses, switched off for it and anything it could embed.
# Left at the browser's default (this origin only): clipboard (copying a message), fullscreen,
# autoplay (a notification sound) and web-share. Only names Chromium knows: it logs an unknown
# feature as a console error on every page.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in [
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": PERMISSIONS_POLICY,
    # Other sites may not load our pages, scripts, styles or images as theirs (Spectre-style
    # reads of cross-origin resources, hot-linking a room's avatars).
    "Cross-Origin-Resource-Policy": "same-origin",
}
_ENCODED_HEADERS = [
    (name.lower().encode("latin1"), value.encode("latin1")) for name, value in SECURITY_HEADERS.items()
]


def add_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@sync_and_async_middleware
def SecurityHeadersMiddleware(get_response):  # noqa: N802 - named like a middleware class
    if iscoroutinefunction(get_response):

        async def middleware(request):
            return add_security_headers(await get_response(request))

    else:

        def middleware(request):
            return add_security_headers(get_response(request))

    return middleware


# The name config/settings.py's MIDDLEWARE lists.
ContentSecurityPolicyMiddleware = SecurityHeadersMiddleware


class SecurityHeadersASGI:
    """ASGI middleware: the same headers on every HTTP response of the wrapped application."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                headers.extend(header for header in _ENCODED_HEADERS if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        return await self.application(scope, receive, send_with_headers)
