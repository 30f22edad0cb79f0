"""The HTTP client an index is read through: unearth's client over overlock's transport (the
machine's trust store and pip's ``cert``, trusted hosts, proxies, one deadline per request),
credentials per host from the index URLs and netrc, never prompted for."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import httpx2
from unearth.auth import MultiDomainBasicAuth
from unearth.fetchers import PyPIClient

from overlock.errors import BadInputError
from overlock.index.pipconfig import IndexConfig
from overlock.index.transport import Transport

logger = logging.getLogger("overlock.index.http")


class HttpClient(PyPIClient):
    """unearth's client; retries live in ``Session.retrying`` alone (one layer, as in pip)."""

    def __init__(self, *, backoff: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backoff = backoff


def ssl_context(config: IndexConfig, *, verify: bool = True) -> ssl.SSLContext:
    """TLS as the machine trusts it: the system store plus pip's ``cert`` bundle.

    Machines behind TLS-inspecting proxies have the proxy's CA in the system store (found by
    truststore) or only in the bundle pip is pointed at (``cert``); both must work. With
    ``verify=False`` (pip's ``trusted-host``) no certificate is checked; a ``client-cert`` is
    still presented, as pip does.
    """
    ctx: ssl.SSLContext
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        try:
            import truststore

            ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        except (ImportError, OSError, ssl.SSLError) as exc:  # pragma: no cover - platform specific
            logger.debug("truststore unavailable (%s); using OpenSSL's defaults", exc)
            ctx = ssl.create_default_context()
    try:
        if config.cert and verify:
            ctx.load_verify_locations(cafile=config.cert)
        if config.client_cert:
            ctx.load_cert_chain(config.client_cert)
    except (OSError, ssl.SSLError) as exc:
        raise BadInputError(
            f"cannot load the certificate file {getattr(exc, 'filename', None) or config.cert}"
            f" named in the {config.origin}: {exc}",
            hint="fix or remove pip's `cert` / `client-cert` setting (see `pip config list`)",
        ) from exc
    return ctx


def make_client(config: IndexConfig, *, backoff: float = 0.25) -> PyPIClient:
    """The HTTP client an ``Index`` uses, configured from ``config``."""
    client = HttpClient(
        backoff=backoff,
        # Trusted hosts, proxies and the request deadline are the transport's; unearth's
        # own mounts (for trusted hosts) are left out so that every request goes through it.
        transport=Transport(
            ssl_context(config),
            insecure_context=ssl_context(config, verify=False),
            trusted_hosts=config.trusted_hosts,
            proxies=_proxies(config),
        ),
        timeout=httpx2.Timeout(config.timeout),
        follow_redirects=True,
    )
    # Credentials are taken per host from the index URLs (and netrc), never prompted for:
    # a lock may run unattended.
    client.auth = MultiDomainBasicAuth(
        prompting=False, index_urls=[*config.index_urls, *config.auth_urls]
    )
    return client


def _proxies(config: IndexConfig) -> dict[str, str] | None:
    """pip's ``proxy`` (``--proxy``, ``PIP_PROXY``) for every scheme and host, as pip (requests)
    applies an explicit proxy: ``NO_PROXY`` exempts hosts from the environment's proxies only.
    None: the environment's proxies."""
    if not config.proxy:
        return None
    return {"http": config.proxy, "https": config.proxy}
