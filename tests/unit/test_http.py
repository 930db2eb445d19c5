"""The transport adapters' HTTP session: the environment's proxy settings still apply,
read once per host."""

from __future__ import annotations

import pytest

from docflow.transport._http import EnvironmentOnce


def test_proxies_come_from_the_environment_once_per_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "lgsp.local")
    session = EnvironmentOnce()

    def proxy(url: str) -> str | None:
        settings = session.merge_environment_settings(url, {}, None, None, None)
        return settings["proxies"].get("http")  # type: ignore[no-any-return]

    assert proxy("http://node.example:8080/") == "http://proxy.example:3128"
    assert proxy("http://lgsp.local:8080/") is None  # no_proxy is honoured
    monkeypatch.setenv("http_proxy", "http://other.example:3128")
    # Same host: the settings read the first time; a new host reads the environment.
    assert proxy("http://node.example:8080/x") == "http://proxy.example:3128"
    assert proxy("http://commune.example/") == "http://other.example:3128"
    # A caller's own proxies still win over the environment.
    explicit = session.merge_environment_settings(
        "http://node.example:8080/", {"http": "http://mine:1"}, None, None, None)
    assert explicit["proxies"]["http"] == "http://mine:1"
