"""The commented overlay.toml that ``overlock init`` writes."""

from __future__ import annotations

from collections.abc import Sequence

from overlock.manifest.load import toml_string


def render_template(
    base: str, prefix: str, name: str | None, index_urls: Sequence[str] = ()
) -> str:
    """A commented overlay.toml for ``overlock init``; it loads back without issues.

    ``prefix`` is written as a template: ``{name}`` stays a placeholder, and any other brace
    must already be doubled. With ``index_urls``, ``[index]`` is set instead of commented out.
    """
    name_line = (
        f"name = {toml_string(name)}"
        if name is not None
        else '# name = "my-overlay"    # default: the base environment\'s directory name'
    )
    index_block = (
        "[index]                                 # instead of your pip configuration\n"
        f"urls = [{', '.join(toml_string(u) for u in index_urls)}]  # the first is the primary\n"
        if index_urls
        else "# [index]                               # absent: your pip configuration applies\n"
        '# urls = ["https://pypi.org/simple"]    # the first is the primary index\n'
    )
    return f"""\
# overlay.toml: what this overlay adds to or upgrades in its base environment.
# `overlock lock` resolves it into pylock.overlay.toml; `overlock sync` applies the lock.

[overlay]
# The read-only environment underneath: its prefix or its python executable.
# Alternatively base-snapshot = "base.json", a saved probe (exactly one of the two).
base = {toml_string(base)}
# Where the overlay is installed; relative to this file; {{name}} is replaced by the name.
prefix = {toml_string(prefix)}
{name_line}
# PEP 508 requirements, e.g. "seaborn==0.13.2", "urllib3>=2", "pkg @ https://host/pkg.whl".
requires = []

{index_block}# find-links = []                       # local directories or URLs

# [resolve]
# shadow = "auto"   # "auto": base packages may be shadowed when needed;
#                   # "explicit": only projects named in `requires` may be
"""
