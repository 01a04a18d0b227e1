"""The client IP: one function decides it, and the server started by `make demo` agrees."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.test import RequestFactory

from freshloop.core.management.commands import serve
from freshloop.core.net import client_ip, client_ip_from


class TestClientIpFrom:
    def test_without_trusted_proxies_the_header_is_ignored(self) -> None:
        # a client on the same host (the probe's case) cannot pose as someone else
        assert (
            client_ip_from(remote_addr="127.0.0.1", forwarded_for="6.6.6.6", trusted_proxies=[])
            == "127.0.0.1"
        )

    def test_a_trusted_proxy_is_believed(self) -> None:
        assert (
            client_ip_from(
                remote_addr="10.0.0.2", forwarded_for="203.0.113.9", trusted_proxies=["10.0.0.0/8"]
            )
            == "203.0.113.9"
        )

    def test_an_untrusted_peer_is_not_believed(self) -> None:
        assert (
            client_ip_from(
                remote_addr="198.51.100.4", forwarded_for="6.6.6.6", trusted_proxies=["10.0.0.0/8"]
            )
            == "198.51.100.4"
        )

    def test_the_chain_is_read_from_the_right_past_trusted_hops(self) -> None:
        # the client forged "6.6.6.6"; the edge proxy appended its real address, the inner
        # proxy appended the edge's
        assert (
            client_ip_from(
                remote_addr="10.0.0.3",
                forwarded_for="6.6.6.6, 203.0.113.9, 10.0.0.2",
                trusted_proxies=["10.0.0.0/8"],
            )
            == "203.0.113.9"
        )

    def test_garbage_in_the_chain_stops_at_the_last_trusted_hop(self) -> None:
        assert (
            client_ip_from(
                remote_addr="10.0.0.3",
                forwarded_for="203.0.113.9, not-an-ip, 10.0.0.2",
                trusted_proxies=["10.0.0.0/8"],
            )
            == "10.0.0.2"
        )

    def test_all_trusted_gives_the_leftmost(self) -> None:
        assert (
            client_ip_from(
                remote_addr="10.0.0.3", forwarded_for="10.0.0.1", trusted_proxies=["10.0.0.0/8"]
            )
            == "10.0.0.1"
        )

    @pytest.mark.parametrize(
        ("hop", "client"),
        [
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("203.0.113.9:5123", "203.0.113.9"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
        ],
    )
    def test_address_forms_proxies_write(self, hop: str, client: str) -> None:
        assert (
            client_ip_from(
                remote_addr="127.0.0.1", forwarded_for=hop, trusted_proxies=["127.0.0.1"]
            )
            == client
        )

    def test_no_peer_address(self) -> None:
        assert client_ip_from(remote_addr="", forwarded_for="1.2.3.4", trusted_proxies=[]) is None


def _trust(settings: Any, *proxies: str) -> None:
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, trusted_proxies=list(proxies))


class TestClientIp:
    def test_reads_the_settings(self, settings: Any) -> None:
        request = RequestFactory().get(
            "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9"
        )
        assert client_ip(request) == "127.0.0.1"
        _trust(settings, "127.0.0.1")
        assert client_ip(request) == "203.0.113.9"


class TestServeCommand:
    def test_the_demo_server_trusts_no_forwarded_header_by_default(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import uvicorn

        started: dict[str, Any] = {}
        monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options, app=app))
        call_command("serve", "--port", "8123")
        assert started["app"] == "config.asgi:application"
        assert started["proxy_headers"] is False
        assert started["port"] == 8123

    def test_configured_proxies_are_the_servers_too(self, settings: Any) -> None:
        _trust(settings, "127.0.0.1", "10.0.0.0/8")
        options = serve.serve_options(host="127.0.0.1", port=1)
        assert options["proxy_headers"] is True
        assert options["forwarded_allow_ips"] == "127.0.0.1,10.0.0.0/8"


@contextmanager
def _uvicorn(**options: Any) -> Iterator[str]:
    """The project under uvicorn in a thread, with the given options (`serve_options`), on a
    free port."""
    import uvicorn

    from config.asgi import application

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    options = {**options, "host": "127.0.0.1", "port": port}
    server = uvicorn.Server(
        uvicorn.Config(application, log_level="warning", lifespan="off", **options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _ask_codes(url: str, forwarded: list[str]) -> list[int]:
    statuses = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for index, address in enumerate(forwarded):
            response = client.post(
                "/api/v1/auth/otp",
                json={"phone": f"1390000{index:04d}"},
                headers={"X-Forwarded-For": address},
            )
            statuses.append(response.status_code)
    return statuses


SPOOFED = ["6.6.6.1", "6.6.6.2", "6.6.6.3", "6.6.6.4"]


@pytest.mark.django_db(transaction=True)
class TestForwardedForThroughTheServer:
    """The probe: from loopback, a new X-Forwarded-For per request reset the per-IP OTP limit
    (uvicorn's default trusts the header from 127.0.0.1 and rewrites the client address)."""

    @pytest.fixture(autouse=True)
    def _two_codes_per_ip(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, otp_per_ip_per_hour=2)

    def test_a_spoofed_header_from_loopback_does_not_reset_the_per_ip_limit(self) -> None:
        # given the server as `make demo` starts it, no proxies configured
        with _uvicorn(**serve.serve_options(host="127.0.0.1", port=0)) as url:
            # when one local client asks for codes, claiming a new address each time
            statuses = _ask_codes(url, SPOOFED)
        # then all its requests count against its one real address
        assert statuses == [202, 202, 429, 429]

    def test_plain_uvicorn_defaults_would_have_let_it_through(self) -> None:
        # why the server command matters: with uvicorn's own defaults (the demo's command
        # before) the header rewrote the client address and the limit never bit
        with _uvicorn() as url:
            statuses = _ask_codes(url, SPOOFED)
        assert statuses == [202, 202, 202, 202]

    def test_behind_a_configured_proxy_each_client_is_counted_apart(self, settings: Any) -> None:
        # given a proxy on loopback, configured as trusted (for the app and the server)
        _trust(settings, "127.0.0.1")
        with _uvicorn(**serve.serve_options(host="127.0.0.1", port=0)) as url:
            # when requests come through it for different clients, one of whom forged a hop
            statuses = _ask_codes(
                url, ["203.0.113.1", "203.0.113.2", "6.6.6.6, 203.0.113.3", "203.0.113.1"]
            )
        # then each is counted under its own address, the forged hop ignored
        assert statuses == [202, 202, 202, 202]


class TestServeWorkers:
    def test_several_processes_need_redis_for_real_time(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, redis_url="", web_workers=4)
        assert serve.serve_workers(None) == 1
        assert serve.serve_workers(3) == 1

    def test_with_redis_the_configured_processes_start(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP, redis_url="redis://127.0.0.1:6379/0", web_workers=4
        )
        assert serve.serve_workers(None) == 4
        assert serve.serve_workers(2) == 2
