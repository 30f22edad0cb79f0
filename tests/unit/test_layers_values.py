"""Layers on values: a base seen through lower overlays, their drift lines, keep."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from overlock.errors import ResolutionError
from overlock.prefix.layers import Layer, layer_drift, layers_of, lower_site_dirs, stack
from overlock.resolve.resolver import resolve

from .values import MemorySource, dist, make_base, picks

pytestmark = pytest.mark.unit

GROUP_SITE = "/g/lib/python3.11/site-packages"
LABEL = "group overlay 'beamline-7'"


def _layer(*dists: tuple[str, str, tuple[str, ...]], fingerprint: str = "sha256:1") -> Layer:
    return Layer(
        name="beamline-7",
        manifest=Path("/g/overlay.toml"),
        prefix=Path("/g"),
        site_dirs=(GROUP_SITE,),
        fingerprint=fingerprint,
        distributions=tuple(dist(n, v, *r, location=GROUP_SITE, layer=LABEL) for n, v, r in dists),
    )


def test_the_nearest_layer_wins_and_is_named() -> None:
    base = make_base(dist("hdfio", "2.1.0"), dist("scanlib", "1.4.0", "hdfio>=2,<3"))
    stacked = stack(base, [_layer(("hdfio", "2.2.0", ()), ("netlib", "1.0", ("hdfio<3",)))])
    assert {d.name: (d.version, d.layer_label) for d in stacked.distributions} == {
        "hdfio": ("2.2.0", LABEL),
        "netlib": ("1.0", LABEL),
        "scanlib": ("1.4.0", "base"),
    }
    assert [d.version for d in stacked.hidden] == ["2.1.0"]
    assert lower_site_dirs(stacked) == [GROUP_SITE]
    assert stacked.fingerprint() != base.fingerprint()
    assert stack(base, []) is base


def test_a_lower_package_caps_like_a_base_one_and_the_conflict_names_its_layer() -> None:
    base = make_base(dist("hdfio", "2.1.0"))
    stacked = stack(base, [_layer(("grouptool", "1.0", ("hdfio<3",)))])
    source = MemorySource().add("hdfio", "3.0.0").add("grouptool", "1.0", "hdfio<3")
    with pytest.raises(ResolutionError) as info:
        resolve([Requirement("hdfio>=3")], stacked, source)
    assert f"grouptool 1.0 ({LABEL}), which requires hdfio<3" in info.value.message


def test_keep_refuses_to_shadow_and_says_so() -> None:
    base = make_base(dist("numpyish", "1.26.0"))
    source = MemorySource().add("numpyish", "2.0.0").add("plotter", "1.0", "numpyish>=2")
    assert picks(resolve([Requirement("plotter")], base, source)) == {
        "numpyish": "2.0.0",
        "plotter": "1.0",
    }
    with pytest.raises(ResolutionError) as info:
        resolve([Requirement("plotter")], base, source, keep=[canonicalize_name("numpyish")])
    assert '[resolve] keep = ["numpyish"]' in info.value.message


def test_drift_lines_name_the_layer_and_what_changed() -> None:
    base = make_base(dist("scanlib", "1.4.0"))
    before = stack(base, [_layer(("hdfio", "2.2.0", ()), ("netlib", "1.0", ()))])
    after = stack(
        base,
        [_layer(("hdfio", "2.3.0", ()), ("calib", "1.0", ()), fingerprint="sha256:2")],
    )
    locked = layers_of(before)
    assert layer_drift(locked, before) == []
    assert layer_drift(locked, after) == [
        f"{LABEL} changed since the lock: hdfio 2.2.0 -> 2.3.0, calib 1.0 appeared,"
        " netlib 1.0 went away"
    ]
    resynced = stack(base, [_layer(("hdfio", "2.2.0", ()), ("netlib", "1.0", ()), fingerprint="x")])
    assert layer_drift(locked, resynced) == [f"{LABEL} changed since the lock: it was synced again"]
    assert layer_drift(locked, base) == [f"the {LABEL} is no longer below this overlay"]
    assert layer_drift([], before) == [f"the {LABEL} is now below this overlay"]
