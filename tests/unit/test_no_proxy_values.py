"""NO_PROXY as overlock reads it for the environment's proxy (index/transport.py): curl's
names and addresses, and CIDR blocks for a host that is an IP address, as requests' (hence
pip's) ``should_bypass_proxies`` reads them."""

from __future__ import annotations

import pytest

from overlock.index.transport import _bypassed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "no_proxy"),
    [
        ("127.0.0.1", "127.0.0.0/8"),
        ("10.20.30.40", "10.0.0.0/8"),
        ("10.20.30.40", "example.org, 10.0.0.0/8"),
        ("192.168.1.1", "192.168.0.0/16"),
        ("192.168.0.7", "192.168.0.7/32"),
        ("10.1.2.3", "10.9.9.9/8"),  # host bits in the block's address are ignored
        ("10.1.2.3", "10.0.0.0/08"),
        ("::1", "::1/128"),
        ("fd00::5", "fd00::/8"),
        ("2001:db8::1", "example.org,2001:db8::/32"),
        # A malformed entry is skipped; the entries after it still count.
        ("10.0.0.1", "10.0.0.0/33,10.0.0.0/8"),
        ("10.0.0.1", "nonsense/8, 10.0.0.1"),
    ],
)
def test_a_cidr_block_exempts_the_addresses_in_it(host: str, no_proxy: str) -> None:
    assert _bypassed(host, 443, no_proxy)


@pytest.mark.parametrize(
    ("host", "no_proxy"),
    [
        ("11.0.0.1", "10.0.0.0/8"),
        ("192.168.1.1", "192.168.0.0/24"),
        ("::2", "::1/128"),
        ("::1", "127.0.0.0/8"),  # the other IP version
        ("127.0.0.1", "::/0"),
        # requests takes a prefix length of 1 or more: /0 is no block (not "every address").
        ("10.0.0.1", "0.0.0.0/0"),
        # Only a prefix length in decimal: a netmask is no block, to requests as to curl.
        ("10.1.1.1", "10.0.0.0/255.0.0.0"),
        # Malformed: ignored, never an error.
        ("10.0.0.1", "10.0.0.0/33"),
        ("::1", "::1/129"),
        ("10.0.0.1", "10.0.0.0/x"),
        ("10.0.0.1", "10.0.0.0/"),
        ("10.0.0.1", "/8"),
        ("::1", "[::1]/128"),
        ("10.0.0.1", "10.0.0.0/8/8"),
        ("10.0.0.1", "10.0.0.0/\u0668"),  # a digit, but not an ASCII one
        # A name is never looked up to match a block.
        ("localhost", "127.0.0.0/8"),
    ],
)
def test_what_is_no_block_or_outside_it_exempts_nothing(host: str, no_proxy: str) -> None:
    assert not _bypassed(host, 443, no_proxy)


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypassed"),
    [
        ("127.0.0.1", 443, "127.0.0.1", True),
        ("127.0.0.1", 8443, "127.0.0.1:8443", True),
        ("127.0.0.1", 443, "127.0.0.1:8443", False),
        ("::1", 443, "[::1]:443", True),
        ("::1", 443, "::1", True),
        ("pypi.example.org", 443, ".example.org", True),
        ("example.org", 443, "*.example.org", True),
        ("notexample.org", 443, "example.org", False),
        ("anything", 443, "*", True),
    ],
)
def test_names_and_addresses_as_curl_reads_them(
    host: str, port: int, no_proxy: str, bypassed: bool
) -> None:
    # Unchanged by the blocks: an entry without a "/" is read as before.
    assert _bypassed(host, port, no_proxy) is bypassed
