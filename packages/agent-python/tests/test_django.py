"""The agent in a Django app (its middleware), against the fake relay."""

import pytest

django = pytest.importorskip("django")

from conftest import TOKEN, block  # noqa: E402


@pytest.fixture
def django_client(relay):
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="x", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
            MIDDLEWARE=["risk_hub_agent.django.RiskHubMiddleware"],
            RISK_HUB_IDENTIFY=False,
            INSTALLED_APPS=[], DATABASES={},
        )
        django.setup()
    settings.RISK_HUB = {"application_id": "shop", "environment": "test", "relay_url": relay.url, "token": TOKEN,
                         "linger": 0.01, "poll_interval": 0.05}
    import risk_hub_agent.django as rd

    rd._agent = None
    from django.test import Client

    yield Client(), rd
    rd.agent().close(0.5)
    rd._agent = None


def index(request):
    from django.http import HttpResponse

    from risk_hub_agent.django import agent

    user = request.headers.get("X-User")
    if user:
        agent().identify(user)
    return HttpResponse("ok")


def item(request, item_id):
    from django.http import JsonResponse

    return JsonResponse({"id": item_id, "len": len(request.body)})


def _urls():
    from django.urls import path

    return [path("", index), path("items/<int:item_id>", item)]


urlpatterns = _urls() if django.VERSION else []


def test_django_requests_and_blocks(relay, django_client):
    client, rd = django_client
    r = client.post("/items/7?q=%3Cscript%3E", data='{"a": "1 OR 1=1"}', content_type="application/json",
                    headers={"X-User": "alice", "Authorization": "Bearer s"})
    assert r.status_code == 200 and r.json() == {"id": 7, "len": 17}
    (e,) = relay.wait_events(1, "request")
    req = e["request"]
    assert (req["method"], req["uri"]) == ("POST", "/items/7?q=%3Cscript%3E")
    assert req["query"] == {"q": ["<script>"]} and req["body"] == {"a": "1 OR 1=1"}
    assert req["path_params"] == {"item_id": 7} and "authorization" not in req["headers"]
    relay.set_decisions([block("mallory")])
    assert rd.agent().poll_decisions()
    r = client.get("/", headers={"X-User": "mallory"})
    assert r.status_code == 403 and r.json()["error"] == "blocked"
    assert client.get("/", headers={"X-User": "bob"}).status_code == 200
    assert [x["action"] for x in relay.wait_events(1, "enforcement")] == ["BLOCK"]
