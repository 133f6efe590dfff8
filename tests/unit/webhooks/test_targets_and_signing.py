"""The SSRF guard's address rules (IPv4, IPv6, IPv4 inside IPv6, admin allowances) and the signing helpers."""
from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from modelyard.webhooks import signing, targets
from modelyard.webhooks.targets import Policy, TargetRefused

CLOSED = Policy()


@pytest.mark.parametrize(("url", "words"), [
    ("file:///etc/passwd", "http:// or https://"),
    ("gopher://example.org/", "http:// or https://"),
    ("ftp://8.8.8.8/", "http:// or https://"),
    ("//8.8.8.8/x", "http:// or https://"),
    ("http://", "no host"),
    ("http://8.8.8.8/a b", "spaces or control characters"),
    ("http://8.8.8.8/\x00", "spaces or control characters"),
    ("http://user:pw@8.8.8.8/", "user name or password"),
    ("http://8.8.8.8:99999/", "not a valid URL"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://127.0.0.1/", "loopback"),
    ("http://127.1.2.3:8080/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of 169.254.169.254
    ("http://[2002:0a00:0001::]/", "private"),  # 6to4 of 10.0.0.1
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fd00::1]/", "private"),
    ("http://100.64.0.1/", "private"),  # shared address space (carrier-grade NAT)
    ("http://192.0.2.1/", "not a public address"),  # documentation
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://localhost:8000/", "loopback"),
    ("http://" + "a" * 2001 + ".com/", "longer than"),
])
def test_non_public_and_non_http_targets_are_refused_with_the_reason(url, words):
    with pytest.raises(TargetRefused) as refused:
        targets.check(url, CLOSED)
    assert words in refused.value.message and refused.value.status == 422


@pytest.mark.parametrize("url", ["http://8.8.8.8/hook", "https://1.1.1.1:8443/x?y=1", "http://[2606:4700:4700::1111]/"])
def test_public_addresses_are_accepted_and_pinned(url):
    target = targets.check(url, CLOSED)
    assert target.address in url and target.scheme in ("http", "https")


def test_an_admin_may_allow_listed_hosts_and_networks_but_never_the_unspecified_address():
    listed = Policy(allowed=("127.0.0.1", "10.1.0.0/16", "localhost"))
    assert targets.check("http://127.0.0.1:9000/", listed).address == "127.0.0.1"
    assert targets.check("http://10.1.2.3/", listed).address == "10.1.2.3"
    assert targets.check("http://[::ffff:10.1.2.3]/", listed).host == "::ffff:10.1.2.3"
    with pytest.raises(TargetRefused):
        targets.check("http://10.2.0.1/", listed)
    with pytest.raises(TargetRefused):
        targets.check("http://169.254.169.254/", listed)
    with pytest.raises(TargetRefused):
        targets.check("http://0.0.0.0/", Policy(allowed=("0.0.0.0/0",)))


def test_allowing_private_targets_still_refuses_metadata_and_multicast():
    private = Policy(allow_private=True)
    for url in ("http://127.0.0.1/", "http://10.0.0.1/", "http://[::1]/", "http://[fd00::1]/", "http://100.64.0.1/"):
        assert targets.check(url, private)
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://224.0.0.1/", "http://0.0.0.0/"):
        with pytest.raises(TargetRefused):
            targets.check(url, private)


@pytest.mark.parametrize("entry", ["10.0.0.0/8", "127.0.0.1", "::1", "hooks.internal", "fd00::/8"])
def test_allowed_target_entries_are_hosts_addresses_or_networks(entry):
    assert targets.check_allowed_entry(entry) == entry


@pytest.mark.parametrize("entry", ["", "10.0.0.0/33", "a b", "http://x/", "1.2.3.4:80"])
def test_malformed_allowed_target_entries_are_refused(entry):
    with pytest.raises(ValueError):
        targets.check_allowed_entry(entry)


def test_a_sealed_secret_opens_only_with_the_same_app_secret():
    sealed = signing.seal("whsec_abc", app_secret="k" * 40)
    assert "whsec_abc" not in sealed
    assert signing.unseal(sealed, app_secret="k" * 40) == "whsec_abc"
    with pytest.raises(signing.SecretUnreadable):
        signing.unseal(sealed, app_secret="j" * 40)


def test_header_signatures_cover_timestamp_and_body_and_expire():
    now, body = int(time.time()), b'{"event":"model.updated"}'
    header = signing.header_signature("s3cret", now, body)
    expected = hmac.new(b"s3cret", f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    assert signing.verify("s3cret", str(now), header, body, now=now)
    assert not signing.verify("s3cret", str(now), header, body + b" ", now=now)
    assert not signing.verify("s3cret", str(now + 1), header, body, now=now)
    assert not signing.verify("other", str(now), header, body, now=now)
    assert not signing.verify("s3cret", str(now), header, body, now=now + 301)  # a replay, five minutes on
