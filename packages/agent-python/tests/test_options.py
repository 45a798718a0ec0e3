import pytest

from risk_hub_agent import Agent, ConfigError


@pytest.mark.parametrize("kwargs, message", [
    (dict(application_id="a/b"), "option application_id 'a/b' must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    (dict(application_id="shop", environment="prod uction"), "option environment 'prod uction' must match"),
    (dict(application_id="shop", environment="x" * 65), "option environment"),
    (dict(application_id="-shop"), "option application_id"),
    (dict(application_id="shop\n"), "option application_id"),
    (dict(application_id="shop", relay_url="ftp://relay"), "option relay_url must be an http(s) URL"),
    (dict(application_id="shop", relay_url="http://"), "option relay_url"),
    (dict(application_id="shop", relay_url="http://h:99999"), "option relay_url"),
    (dict(application_id="shop", token="a b"), "option token must be 1-4096 visible ASCII"),
    (dict(application_id="shop", token="x\r\nX-Evil: 1"), "option token"),
    (dict(application_id="shop", max_queue=-5), "option max_queue must be an integer from 1 to 10000000, got -5"),
    (dict(application_id="shop", batch_size=501), "option batch_size"),
    (dict(application_id="shop", timeout="1"), "option timeout must be a number"),
    (dict(application_id="shop", on_block="nope"), "option on_block must be callable"),
    (dict(application_id="shop", block_response=object()), "option block_response"),
    (dict(application_id="shop", nonsense=1), "unknown option 'nonsense'"),
])
def test_invalid_options_fail_at_start_with_one_line(kwargs, message, monkeypatch):
    monkeypatch.delenv("RISK_HUB_RELAY_TOKEN", raising=False)
    kwargs.setdefault("token", "t0k")
    with pytest.raises(ConfigError) as err:
        Agent(start=False, **kwargs)
    text = str(err.value)
    assert text.startswith("risk-hub agent: ")
    assert message in text
    assert "\n" not in text
    assert isinstance(err.value, ValueError) and err.value.code == "RH_CONFIG"


def test_missing_application_and_token(monkeypatch):
    for name in ("RISK_HUB_APPLICATION", "RISK_HUB_RELAY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="option application_id is required"):
        Agent(token="t", start=False)
    with pytest.raises(ConfigError, match="option token is required"):
        Agent("shop", start=False)


def test_options_from_the_environment(monkeypatch):
    monkeypatch.setenv("RISK_HUB_APPLICATION", "shop")
    monkeypatch.setenv("RISK_HUB_ENVIRONMENT", "staging")
    monkeypatch.setenv("RISK_HUB_RELAY_URL", "http://127.0.0.1:1/")
    monkeypatch.setenv("RISK_HUB_RELAY_TOKEN", "secret")
    a = Agent(start=False)
    assert (a.options.application_id, a.options.environment, a.options.relay_url, a.options.token) == \
        ("shop", "staging", "http://127.0.0.1:1", "secret")
    assert a.options.max_queue == 10_000 and a.options.batch_size == 500 and a.options.timeout == 1.0
    assert a.options.shutdown_timeout == 2.0 and a.options.poll_interval == 1.0
    a.close(0)
