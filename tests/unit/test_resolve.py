# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""The resolver on values: a ``BaseEnv`` built in memory and an in-memory package source."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from overlock.errors import ResolutionError
from overlock.resolve.resolver import resolve

from .values import MemorySource, dist, make_base, picks

pytestmark = pytest.mark.unit


def _reqs(*texts: str) -> list[Requirement]:
    return [Requirement(t) for t in texts]


def test_a_base_copy_that_satisfies_is_reused_and_the_index_never_asked() -> None:
    base = make_base(dist("numpyish", "1.26.0"))
    source = MemorySource().add("numpyish", "2.0.0").add("plotter", "0.13.2", "numpyish>=1.20")
    outcome = resolve(_reqs("plotter"), base, source)
    assert picks(outcome) == {"plotter": "0.13.2"}
    assert outcome.reused == ("numpyish 1.26.0",)
    assert "numpyish" not in source.asked


def test_a_cap_in_the_base_shadows_the_capping_package() -> None:
    base = make_base(dist("hdfio", "2.1.0"), dist("scanlib", "1.4.0", "hdfio>=2,<3"))
    source = (
        MemorySource()
        .add("hdfio", "3.0.0")
        .add("scanlib", "1.6.0", "hdfio>=3")
        .add("scanlib", "1.5.0", "hdfio>=2")
        .add("scanlib", "1.4.0", "hdfio>=2,<3")
    )
    outcome = resolve(_reqs("hdfio>=3"), base, source)
    # The release closest to the base's that accepts hdfio 3: least change first.
    assert picks(outcome) == {"hdfio": "3.0.0", "scanlib": "1.5.0"}
    [scanlib] = [p for p in outcome.picks if p.name == "scanlib"]
    assert scanlib.shadows == "1.4.0"
    assert scanlib.kept_for == ("hdfio 3.0.0",)


def test_explicit_shadowing_refuses_and_names_the_base_package() -> None:
    base = make_base(dist("hdfio", "2.1.0"), dist("scanlib", "1.4.0", "hdfio<3"))
    source = MemorySource().add("hdfio", "3.0.0").add("scanlib", "1.5.0", "hdfio>=2")
    with pytest.raises(ResolutionError) as info:
        resolve(_reqs("hdfio>=3"), base, source, shadow="explicit")
    text = str(info.value) + str(info.value.hint)
    assert "scanlib 1.4.0 (base)" in text
    assert "hdfio<3" in text


def test_markers_are_judged_for_the_base_python_not_the_runner() -> None:
    base = make_base(version=(3, 7, 16))
    source = (
        MemorySource()
        .add("oldonly", "1.0")
        .add("neweronly", "1.0")
        .add("app", "1.0", "oldonly; python_version < '3.8'", "neweronly; python_version >= '3.8'")
    )
    assert picks(resolve(_reqs("app"), base, source)) == {"app": "1.0", "oldonly": "1.0"}


def test_requires_python_of_a_release_takes_part_in_the_resolution() -> None:
    base = make_base(version=(3, 8, 18))
    source = (
        MemorySource()
        .add("lib", "2.0", requires_python=">=3.9")
        .add("lib", "1.9", requires_python=">=3.7")
    )
    assert picks(resolve(_reqs("lib"), base, source)) == {"lib": "1.9"}
    with pytest.raises(ResolutionError, match="Python"):
        resolve(_reqs("lib>=2"), base, source)


def test_extras_pull_in_their_requirements_only_when_asked() -> None:
    base = make_base()
    source = MemorySource().add("fastjson", "1.0").add("web", "1.0", "fastjson; extra == 'fast'")
    assert picks(resolve(_reqs("web"), base, source)) == {"web": "1.0"}
    assert picks(resolve(_reqs("web[fast]"), base, source)) == {"web": "1.0", "fastjson": "1.0"}


def test_a_base_broken_before_the_overlay_is_tolerated_and_reported_once() -> None:
    base = make_base(dist("app", "1.0", "missing>=1"), dist("tool", "1.0", "app<1"))
    source = MemorySource().add("extra-pkg", "1.0")
    outcome = resolve(_reqs("extra-pkg"), base, source)
    assert picks(outcome) == {"extra-pkg": "1.0"}
    assert len(outcome.preexisting) == 2
    assert any("missing>=1" in line for line in outcome.preexisting)


def test_a_module_layer_copy_is_the_base_copy() -> None:
    # The probe lists module-path distributions first: the module's six is what is visible.
    layer = "/sw/six/1.16.0"
    base = make_base(dist("six", "1.16.0", location=layer), module_path=[layer])
    source = MemorySource().add("six", "1.17.0").add("uses-six", "1.0", "six>=1.16")
    outcome = resolve(_reqs("uses-six"), base, source)
    assert picks(outcome) == {"uses-six": "1.0"}
    assert outcome.reused == ("six 1.16.0",)
    shadowed = resolve(_reqs("uses-six", "six>=1.17"), base, source)
    assert picks(shadowed) == {"uses-six": "1.0", "six": "1.17.0"}
    assert base.fingerprint() != make_base(dist("six", "1.16.0", location=layer)).fingerprint()


def test_an_unsatisfiable_request_explains_every_layer() -> None:
    base = make_base(
        dist("requests", "2.28.2", "urllib3<1.27,>=1.21.1"), dist("urllib3", "1.26.18")
    )
    source = MemorySource().add("urllib3", "2.2.3").add("requests", "2.28.2", "urllib3<1.27")
    with pytest.raises(ResolutionError) as info:
        resolve(_reqs("urllib3==2.2.3"), base, source)
    message = str(info.value)
    assert "requests 2.28.2 (base)" in message
    assert "urllib3==2.2.3 (requested in overlay.toml)" in message


def test_versions_of_the_previous_lock_are_kept_while_they_fit() -> None:
    base = make_base()
    source = (
        MemorySource()
        .add("urllib3", "2.8.0")
        .add("urllib3", "2.7.0")
        .add("six", "1.17.0")
        .add("needs-new", "1.0", "urllib3>=2.8")
    )
    kept = {canonicalize_name("urllib3"): Version("2.7.0")}
    # A new request that does not concern urllib3 leaves it where the lock had it.
    assert picks(resolve(_reqs("urllib3", "six"), base, source, prefer=kept)) == {
        "urllib3": "2.7.0",
        "six": "1.17.0",
    }
    # One that needs more moves it, and only as far as needed.
    assert picks(resolve(_reqs("urllib3", "needs-new"), base, source, prefer=kept)) == {
        "urllib3": "2.8.0",
        "needs-new": "1.0",
    }
    # Without a preference, the newest.
    assert picks(resolve(_reqs("urllib3"), base, source))["urllib3"] == "2.8.0"


def test_a_base_copy_still_comes_before_a_kept_version() -> None:
    base = make_base(dist("urllib3", "1.26.18"))
    source = MemorySource().add("urllib3", "2.8.0").add("app", "1.0", "urllib3")
    kept = {canonicalize_name("urllib3"): Version("2.8.0")}
    outcome = resolve(_reqs("app"), base, source, prefer=kept)
    assert picks(outcome) == {"app": "1.0"}
    assert outcome.reused == ("urllib3 1.26.18",)


def test_pip_constraints_restrict_index_releases_and_say_so() -> None:
    import dataclasses

    from overlock.manifest.constraints import Constraint
    from overlock.manifest.policy import ResolvePolicy

    base = make_base(dist("urllib3", "1.26.18"))
    source = MemorySource().add("urllib3", "2.8.0").add("urllib3", "2.4.0")
    capped = ResolvePolicy(
        constraints=(
            Constraint(Requirement("urllib3<2.5"), "/etc/pip-constraints.txt:3"),
            # A marker that does not hold on the base: not in force.
            Constraint(Requirement("urllib3<2; sys_platform == 'win32'"), "c.txt:1"),
        )
    )
    assert picks(resolve(_reqs("urllib3>=2"), base, source, policy=capped)) == {"urllib3": "2.4.0"}
    tighter = dataclasses.replace(
        capped, constraints=(Constraint(Requirement("urllib3<2.3"), "c.txt:1"),)
    )
    with pytest.raises(ResolutionError) as info:
        resolve(_reqs("urllib3>=2"), base, source, policy=tighter)
    assert "excluded by the constraint urllib3<2.3 (c.txt:1)" in str(info.value)
    # The base's copy is not installed by overlock: a constraint does not shadow it.
    assert picks(resolve(_reqs("urllib3"), base, source, policy=tighter)) == {}
