"""The ASGI application: HTTP through Django, the chat socket through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.middleware import SecurityHeadersASGI  # noqa: E402
from config.websocket_security import HandshakeValidator  # noqa: E402
from messaging.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Static files included: WhiteNoise answers them before Django's own header middleware.
        "http": SecurityHeadersASGI(django_asgi_app),
        # Host and Origin are checked before the session is read (config/websocket_security.py).
        "websocket": HandshakeValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
