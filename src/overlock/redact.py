"""Credentials in URLs: used for access, never written, never shown.

A user may put credentials in an index URL, a requirement URL (``name @ https://user:pw@host/
x.whl``) or a git URL. They are used where the request is made (``IndexConfig.auth_urls``,
``vcs``), and everything else goes through one of the functions here:

* ``strip_credentials``: for what is *written* (the lock, the prefix's state file,
  ``direct_url.json``, the cache's keys): no userinfo at all. A user name alone is often a
  token (``https://TOKEN@host/``), so it goes too; only an ssh login name (``ssh://git@host``)
  stays, as ssh needs it and authenticates by key, never by a name in a URL.
* ``redact_url`` / ``redact_text``: for what is *shown* (messages, logs at any verbosity),
  pip's way: the password becomes ``****``, a user name alone becomes ``****``.
* ``RedactingFilter``: the logging filter the CLI puts on its handler, so a library that logs
  a URL (unearth, httpx) cannot print a credential either.

The credentials themselves live on only in ``overlay.toml`` (the user's file) and in pip's
configuration, ``~/.netrc`` or a keyring, where the user put them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

# ``scheme://userinfo@`` anywhere in a text; userinfo cannot hold "/", "@" or white space.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"<>]+)@")
_SSH = ("ssh", "git+ssh")
MASK = "****"


def has_credentials(url: str) -> bool:
    return bool(_USERINFO.search(url))


def strip_credentials(url: str) -> str:
    """``url`` as it may be written to a file: without credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(r"\g<scheme>", url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    if parts.scheme.lower() in _SSH:
        user = userinfo.partition(":")[0]
        host = f"{user}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=host))


def strip_text(text: str) -> str:
    """``text`` (a requirement, a message) with the credentials of every URL in it removed."""

    def one(match: re.Match[str]) -> str:
        scheme = match.group("scheme")
        if scheme[:-3].lower() in _SSH:
            user = match.group("userinfo").partition(":")[0]
            return f"{scheme}{user}@" if user else scheme
        return scheme

    return _USERINFO.sub(one, text)


def _masked(userinfo: str) -> str:
    user, colon, _ = userinfo.partition(":")
    return f"{user}:{MASK}" if colon and user else MASK


def redact_url(url: str) -> str:
    """``url`` as it may be shown: ``https://user:****@host/``, ``https://****@host/``."""
    return redact_text(url)


def redact_text(text: str) -> str:
    """``text`` with every URL's credentials masked, pip's way."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{_masked(m.group('userinfo'))}@", text)


def secrets_in(urls: Iterable[str]) -> list[str]:
    """Every user name and password embedded in ``urls``, longest first (for scrubbing
    texts where a secret appears outside its URL, such as a library's error message)."""
    found: set[str] = set()
    for url in urls:
        for match in _USERINFO.finditer(url):
            user, colon, password = match.group("userinfo").partition(":")
            if colon:
                found.add(password)
            elif match.group("scheme")[:-3].lower() not in _SSH:
                found.add(user)  # a user name alone is a token
    # Very short values would mask ordinary words; URLs holding them are masked anyway.
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


# Every secret this process has been given (by overlay.toml, pip's configuration). Process
# wide on purpose: the CLI's output and log handler must mask a secret wherever it shows up,
# including in the message of an exception raised deep inside a library.
_KNOWN: set[str] = set()


def remember(urls: Iterable[str]) -> None:
    """Mask the credentials of ``urls`` in everything ``scrub`` sees from now on."""
    _KNOWN.update(secrets_in(urls))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL credentials masked, and every secret known or given replaced."""
    text = redact_text(text)
    for secret in sorted({*secrets, *_KNOWN}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def http_credentials(url: str) -> tuple[str, str] | None:
    """(user, password) of an http(s) URL that carries them, decoded; else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return None
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    return unquote(user), unquote(password)


def with_credentials(url: str, credentialed: Iterable[str]) -> str:
    """``url`` with the credentials one of ``credentialed`` gives for its host, if any.

    What the lock records has no credentials; at access time they come back from where the
    user keeps them (overlay.toml, pip's configuration), matched by scheme and host the way
    pip matches an index's credentials to the files it serves.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" in parts.netloc or not parts.netloc:
        return url
    for candidate in credentialed:
        try:
            other = urlsplit(candidate.removeprefix("git+"))
        except ValueError:
            continue
        userinfo, at, host = other.netloc.rpartition("@")
        if at and host == parts.netloc and other.scheme == parts.scheme:
            return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))
    return url


class RedactingFilter(logging.Filter):
    """Masks URL credentials, and every remembered secret, in every record that passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


__all__ = [
    "MASK",
    "RedactingFilter",
    "has_credentials",
    "http_credentials",
    "redact_text",
    "redact_url",
    "remember",
    "scrub",
    "secrets_in",
    "strip_credentials",
    "strip_text",
    "with_credentials",
]
