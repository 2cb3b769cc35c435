"""Security headers on every HTTP response: pages, errors, JSON, redirects and static files.

Django's test client sees what the Django middleware adds; a real uvicorn server shows what the
browser gets, static files included (WhiteNoise answers them before the Django middleware after
it); Chromium shows that it understands the Permissions-Policy it is sent.
"""

import urllib.error
import urllib.request

import pytest
from channels.testing import HttpCommunicator
from django.urls import reverse

from config.middleware import SecurityHeadersASGI

from .live_server import running_server

EXPECTED = {
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
SWITCHED_OFF = ["camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()", "display-capture=()"]


def assert_security_headers(headers) -> None:
    """`headers`: name → list of values, as the response carried them."""
    for name, value in EXPECTED.items():
        assert headers.get(name.lower()) == [value], name
    [policy] = headers["permissions-policy"]
    assert all(feature in policy.split(", ") for feature in SWITCHED_OFF), policy
    assert "clipboard-write" not in policy and "fullscreen" not in policy  # what a chat uses stays on
    [csp] = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def header_lists(response) -> dict[str, list[str]]:
    return {name.lower(): [value] for name, value in response.headers.items()}


@pytest.mark.django_db
def test_every_kind_of_django_response_carries_the_security_headers(client, room, alice):
    assert_security_headers(header_lists(client.get(reverse("login"))))
    assert_security_headers(header_lists(client.get(reverse("home"))))  # a redirect to log in
    assert_security_headers(header_lists(client.get("/no/such/page/")))
    client.force_login(alice)
    assert_security_headers(header_lists(client.get(reverse("room", args=[room.slug]))))
    history = client.get(reverse("room_history", args=[room.slug]), {"before_seq": "x"})
    assert history.status_code == 400
    assert_security_headers(header_lists(history))
    assert_security_headers(header_lists(client.post(reverse("logout"))))


async def test_asgi_layer_adds_missing_headers_and_keeps_those_a_response_set():
    async def answer(scope, receive, send):
        own = [(b"content-security-policy", b"default-src 'none'")] if scope["path"] == "/own" else []
        await send({"type": "http.response.start", "status": 200, "headers": [*own, (b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"ok"})

    app = SecurityHeadersASGI(answer)
    plain = await HttpCommunicator(app, "GET", "/plain").get_response()
    own = await HttpCommunicator(app, "GET", "/own").get_response()
    names = [name for name, _ in plain["headers"]]
    assert names == [
        b"x-a",
        b"content-security-policy",
        b"permissions-policy",
        b"cross-origin-resource-policy",
    ]
    assert dict(own["headers"])[b"content-security-policy"] == b"default-src 'none'"
    assert [name for name, _ in own["headers"]].count(b"content-security-policy") == 1


# --- a real server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("headers")) as live:
        yield live


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the redirect itself is the response under test


def fetch(url: str) -> tuple[int, dict[str, list[str]]]:
    try:
        with urllib.request.build_opener(NoRedirects).open(url, timeout=10) as response:
            status, message = response.status, response.headers
    except urllib.error.HTTPError as error:
        status, message = error.code, error.headers
    return status, {name.lower(): message.get_all(name) for name in message}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/css/parley.css", 200),
        ("/static/js/main.js", 200),
        ("/static/favicon.svg", 200),
        ("/accounts/login/", 200),
        ("/", 302),
        ("/no/such/page/", 404),
        ("/healthz", 200),
    ],
)
def test_real_server_sends_the_headers_once_on_every_response_static_files_included(server, path, status):
    answered, headers = fetch(server.url + path)
    assert answered == status
    assert_security_headers(headers)


@pytest.mark.browser
def test_chromium_applies_the_permissions_policy_without_complaint(server, browser):
    context = browser.new_context()
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(f"[{message.type}] {message.text}"))
    page.goto(f"{server.url}/accounts/login/")
    allowed = page.evaluate(
        """() => Object.fromEntries(["camera", "microphone", "geolocation", "clipboard-write", "fullscreen"]
              .map((feature) => [feature, document.featurePolicy.allowsFeature(feature)]))"""
    )
    context.close()
    assert allowed == {
        "camera": False,
        "microphone": False,
        "geolocation": False,
        "clipboard-write": True,
        "fullscreen": True,
    }
    assert [line for line in console if "Permissions-Policy" in line or "Feature" in line] == []
