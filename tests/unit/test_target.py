"""Wheel tags and markers computed from a probe's facts (``overlock.base.target``)."""

from __future__ import annotations

import pytest
from packaging.tags import Tag, compatible_tags, cpython_tags

from overlock.base import target

from .values import linux_facts

pytestmark = pytest.mark.unit


def test_cpython_tags_follow_packaging_for_the_given_platforms() -> None:
    facts = linux_facts((3, 11, 7))
    plats = target.platforms(facts)
    expected = [
        *cpython_tags((3, 11), ["cp311"], plats),
        *compatible_tags((3, 11), "cp311", plats),
    ]
    assert target.tags(facts) == list(dict.fromkeys(str(t) for t in expected))
    assert plats[0] == "linux_x86_64"
    assert "manylinux_2_36_x86_64" in plats
    assert "manylinux2014_x86_64" in plats and "manylinux1_x86_64" in plats
    assert "manylinux_2_4_x86_64" not in plats  # older than any manylinux


def test_python_3_7_has_the_pymalloc_abi() -> None:
    tags = target.tags(linux_facts((3, 7, 16)))
    assert tags[0] == "cp37-cp37m-linux_x86_64"
    assert "cp37-abi3-manylinux_2_17_x86_64" in tags
    assert not any(t.startswith("cp37-cp37-") for t in tags)


def test_debug_and_free_threaded_builds() -> None:
    debug = linux_facts((3, 12, 1))
    debug["config"]["Py_DEBUG"] = 1
    assert [t.split("-")[1] for t in target.tags(debug)[:2]] == ["cp312d", "cp312d"]
    assert "cp312-cp312-manylinux_2_17_x86_64" in target.tags(debug)
    threaded = linux_facts((3, 13, 0))
    threaded["config"]["Py_GIL_DISABLED"] = 1
    tags = target.tags(threaded)
    assert tags[0] == "cp313-cp313t-linux_x86_64"
    # abi3 is not loadable by a free-threaded build.
    assert not any("-abi3-" in t for t in tags)


def test_musl_and_32_bit_and_arm() -> None:
    musl = linux_facts(glibc=None, musl="1.2")
    plats = target.platforms(musl)
    assert plats == [
        "linux_x86_64",
        "musllinux_1_2_x86_64",
        "musllinux_1_1_x86_64",
        "musllinux_1_0_x86_64",
    ]
    i686 = linux_facts(is_64bit=False)
    assert target.platforms(i686)[0] == "linux_i686"
    arm = linux_facts(sysconfig_platform="linux-aarch64", machine="aarch64")
    plats = target.platforms(arm)
    assert plats[0] == "linux_aarch64"
    assert "manylinux_2_17_aarch64" in plats
    assert "manylinux_2_5_aarch64" not in plats  # aarch64 starts at glibc 2.17


def test_macos_platforms() -> None:
    mac = linux_facts(
        platform_system="Darwin",
        sysconfig_platform="macosx-11.0-arm64",
        mac_ver="14.2.1",
        mac_machine="arm64",
        glibc=None,
    )
    plats = target.platforms(mac)
    assert plats[0] == "macosx_14_0_arm64"
    assert "macosx_11_0_universal2" in plats


def test_other_implementations_use_generic_tags() -> None:
    pypy = linux_facts((3, 10, 13))
    pypy["implementation"] = {"name": "pypy"}
    pypy["config"]["EXT_SUFFIX"] = ".pypy310-pp73-x86_64-linux-gnu.so"
    tags = target.tags(pypy)
    assert tags[0] == "pp310-pypy310_pp73-linux_x86_64"
    assert "pp3-none-any" in tags and "py3-none-any" in tags


def test_facts_that_are_missing_are_an_error_not_a_guess() -> None:
    with pytest.raises(target.FactsError, match="version_info"):
        target.tags({})
    broken = linux_facts()
    del broken["markers"]["python_version"]
    with pytest.raises(target.FactsError, match="python_version"):
        target.markers(broken)


def test_markers_are_the_probed_values() -> None:
    facts = linux_facts((3, 9, 18))
    markers = target.markers(facts)
    assert markers == facts["markers"]
    assert Tag("cp39", "cp39", "linux_x86_64") == Tag(*target.tags(facts)[0].split("-"))
