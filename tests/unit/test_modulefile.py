"""Modulefiles on values: what `module load` puts first on PATH is what activation does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from overlock.prefix.activate import overlay_environ
from overlock.prefix.layers import LAYERS_KEY
from overlock.report.modulefile import lmod, module_spec

from .values import make_base

pytestmark = pytest.mark.unit


def test_a_stacked_overlays_modulefile_puts_every_layers_commands_on_path() -> None:
    base = make_base()
    base = dataclasses.replace(
        base, extra={**base.extra, LAYERS_KEY: [{"name": "group", "prefix": "/o/group"}]}
    )
    spec = module_spec(base, "/o/user", "user", "/p/overlay.toml")
    assert spec.bin_dirs == ("/o/user/bin", "/o/group/bin")
    text = lmod(spec)
    # prepend_path puts the last one first: the group's line comes before the user's.
    assert text.index('"/o/group/bin"') < text.index('"/o/user/bin"')
    activated = overlay_environ(base, Path("/o/user"), {"PATH": "/usr/bin"})
    assert activated["PATH"].split(":")[:2] == list(spec.bin_dirs)
