"""Resolver semantics, table-driven, in the style of resolvelib's and pip's resolver tests.

Each case is an index (``MemorySource``), a base, a request and the expected picks, or
``None`` for "no resolution". The expectations come from the specifications (PEP 440 for
pre-, post- and local releases; PEP 592 for yanked ones) and from the documented behaviour
of pip (the ``pep440`` mode) and uv (the other pre-release modes), not from any one tool's
suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from packaging.requirements import Requirement

from overlock.base.env import BaseEnv
from overlock.errors import BuildRequiredError, OverlockError, ResolutionError
from overlock.manifest.policy import PRERELEASE_MODES, ResolvePolicy, binary_names
from overlock.resolve.resolver import resolve

from .values import MemorySource, dist, make_base, picks

pytestmark = pytest.mark.unit

Index = Sequence[tuple[Any, ...]]  # (name, version, *requires[, {keyword: value}])


def _source(index: Index, base: BaseEnv | None = None) -> MemorySource:
    source = MemorySource(base=base)
    for entry in index:
        kw: dict[str, Any] = {}
        if entry and isinstance(entry[-1], dict):
            kw = entry[-1]
            entry = entry[:-1]
        source.add(*entry, **kw)
    return source


def _resolve(
    requires: Sequence[str],
    index: Index,
    *,
    base: BaseEnv | None = None,
    policy: ResolvePolicy | None = None,
    judge: bool = False,
    shadow: str = "auto",
) -> Mapping[str, str]:
    base = base or make_base()
    policy = policy or ResolvePolicy()
    outcome = resolve(
        [Requirement(r) for r in requires],
        base,
        _source(index, base if judge else None),
        policy=policy,
        allow_build=policy.allow_build,
        shadow=shadow,
    )
    return picks(outcome)


def _failure(requires: Sequence[str], index: Index, **kw: Any) -> OverlockError:
    with pytest.raises(OverlockError) as info:
        _resolve(requires, index, **kw)
    return info.value


def _text(exc: OverlockError) -> str:
    return f"{exc}\n{exc.hint or ''}"


# -- pre-releases: every mode --------------------------------------------------------------


@dataclass(frozen=True)
class PreCase:
    id: str
    requires: tuple[str, ...]
    index: tuple[tuple[Any, ...], ...]
    expect: Mapping[str, Mapping[str, str] | None] = field(default_factory=dict)


M = PRERELEASE_MODES
PEP440, IONE, ALLOW, EXPLICIT, IFNEC, DISALLOW = M

PRE_CASES = [
    # No final release in range: PEP 440 takes the pre-release; uv's modes do not, since the
    # user did not name one and the package has a final release.
    PreCase(
        "no-final-in-range",
        ("a>0.1.0",),
        (("a", "0.1.0"), ("a", "1.0.0a1")),
        {
            PEP440: {"a": "1.0.0a1"},
            IONE: None,
            ALLOW: {"a": "1.0.0a1"},
            EXPLICIT: None,
            IFNEC: None,
            DISALLOW: None,
        },
    ),
    # A dependency names the pre-release: enough for PEP 440, not for uv's "explicit" modes,
    # which listen to the user's own requirements only.
    PreCase(
        "dependency-names-a-pre-release",
        ("a", "b"),
        (
            ("a", "1.0.0", "c==2.0.0b1"),
            ("b", "1.0.0", "c>=1.0.0,<=3.0.0"),
            ("c", "1.0.0"),
            ("c", "2.0.0b1"),
        ),
        {
            PEP440: {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b1"},
            IONE: None,
            ALLOW: {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b1"},
            EXPLICIT: None,
            IFNEC: None,
            DISALLOW: None,
        },
    ),
    # The user names a pre-release: every mode but "if-necessary" and "disallow" takes it.
    PreCase(
        "user-names-a-pre-release",
        ("a>=1.0.0a1",),
        (("a", "0.9.0"), ("a", "1.0.0a1")),
        {
            PEP440: {"a": "1.0.0a1"},
            IONE: {"a": "1.0.0a1"},
            ALLOW: {"a": "1.0.0a1"},
            EXPLICIT: {"a": "1.0.0a1"},
            IFNEC: None,
            DISALLOW: None,
        },
    ),
    # Nothing but pre-releases: "if-necessary" admits them, "explicit" does not.
    PreCase(
        "only-pre-releases",
        ("a",),
        (("a", "1.0.0a1"), ("a", "1.0.0b2")),
        {
            PEP440: {"a": "1.0.0b2"},
            IONE: {"a": "1.0.0b2"},
            ALLOW: {"a": "1.0.0b2"},
            EXPLICIT: None,
            IFNEC: {"a": "1.0.0b2"},
            DISALLOW: None,
        },
    ),
    # A newer pre-release than the newest final: only "allow" prefers it.
    PreCase(
        "newer-pre-release",
        ("a",),
        (("a", "1.0.0"), ("a", "2.0.0a1")),
        {
            PEP440: {"a": "1.0.0"},
            IONE: {"a": "1.0.0"},
            ALLOW: {"a": "2.0.0a1"},
            EXPLICIT: {"a": "1.0.0"},
            IFNEC: {"a": "1.0.0"},
            DISALLOW: {"a": "1.0.0"},
        },
    ),
    # A transitive dependency with only pre-releases.
    PreCase(
        "transitive-only-pre-releases",
        ("a",),
        (("a", "1.0.0", "b"), ("b", "1.0.0rc1")),
        {
            PEP440: {"a": "1.0.0", "b": "1.0.0rc1"},
            IONE: {"a": "1.0.0", "b": "1.0.0rc1"},
            ALLOW: {"a": "1.0.0", "b": "1.0.0rc1"},
            EXPLICIT: None,
            IFNEC: {"a": "1.0.0", "b": "1.0.0rc1"},
            DISALLOW: None,
        },
    ),
    # A dev release is a pre-release too (PEP 440), and a post-release of one is as well.
    PreCase(
        "dev-releases",
        ("a>1.0",),
        (("a", "1.0"), ("a", "1.1.dev1"), ("a", "1.1a1.post1")),
        {
            PEP440: {"a": "1.1a1.post1"},
            IONE: None,
            ALLOW: {"a": "1.1a1.post1"},
            EXPLICIT: None,
            IFNEC: None,
            DISALLOW: None,
        },
    ),
]


@pytest.mark.parametrize(
    ("case", "mode"),
    [pytest.param(c, m, id=f"{c.id}-{m}") for c in PRE_CASES for m in PRERELEASE_MODES],
)
def test_prerelease_modes(case: PreCase, mode: str) -> None:
    assert set(case.expect) == set(PRERELEASE_MODES)
    expected = case.expect[mode]
    policy = ResolvePolicy(prereleases=mode)
    if expected is None:
        exc = _failure(case.requires, case.index, policy=policy)
        assert isinstance(exc, ResolutionError)
        assert "pre-release" in str(exc)  # the set-aside release is explained
    else:
        assert _resolve(case.requires, case.index, policy=policy) == expected


def test_a_pre_release_in_the_base_is_kept_whatever_the_mode() -> None:
    # The policy decides what is taken from the index; the base copy is already installed.
    base = make_base(dist("a", "2.0.0rc1"))
    for mode in PRERELEASE_MODES:
        outcome = resolve(
            [Requirement("a")], base, _source([("a", "1.0.0")]), policy=ResolvePolicy(mode)
        )
        assert outcome.picks == () and outcome.reused == ("a 2.0.0rc1",), mode


# -- yanked releases (PEP 592) -------------------------------------------------------------


YANKED = {"yanked": "broken build"}

YANK_CASES = [
    pytest.param(("a",), (("a", "1.0"), ("a", "2.0", YANKED)), {"a": "1.0"}, id="skipped"),
    pytest.param(("a==2.0",), (("a", "1.0"), ("a", "2.0", YANKED)), {"a": "2.0"}, id="user-pin-=="),
    pytest.param(
        ("a===2.0",), (("a", "1.0"), ("a", "2.0", YANKED)), {"a": "2.0"}, id="user-pin-==="
    ),
    pytest.param(("a>=2.0",), (("a", "1.0"), ("a", "2.0", YANKED)), None, id="range-is-no-pin"),
    pytest.param(("a==2.*",), (("a", "2.0", YANKED),), None, id="wildcard-is-no-pin"),
    pytest.param(
        ("b",),
        (("b", "1.0", "c==2.0.0"), ("c", "1.0.0"), ("c", "2.0.0", YANKED)),
        None,
        id="dependency-pin",
    ),
    pytest.param(
        ("b", "c==2.0.0"),
        (("b", "1.0", "c==2.0.0"), ("c", "1.0.0"), ("c", "2.0.0", YANKED)),
        {"b": "1.0", "c": "2.0.0"},
        id="dependency-pin-backed-by-user",
    ),
]


@pytest.mark.parametrize(("requires", "index", "expected"), YANK_CASES)
def test_yanked(
    requires: tuple[str, ...], index: Index, expected: Mapping[str, str] | None
) -> None:
    if expected is None:
        text = _text(_failure(requires, index))
        assert "yanked (broken build)" in text
    else:
        assert _resolve(requires, index) == expected


def test_a_yank_without_a_reason_still_says_yanked() -> None:
    text = _text(_failure(["a>=2"], [("a", "1.0"), ("a", "2.0", {"yanked": ""})]))
    assert "a 2.0: yanked" in text and "()" not in text


# -- local and post releases (PEP 440) -----------------------------------------------------


@pytest.mark.parametrize(
    ("requires", "versions", "expected"),
    [
        # A public version in a specifier ignores local labels of candidates.
        (("a==1.0",), ("1.0+cpu",), "1.0+cpu"),
        (("a==1.0+gpu",), ("1.0+cpu", "1.0+gpu"), "1.0+gpu"),
        (("a",), ("1.0", "1.0+local"), "1.0+local"),  # local versions sort after the public
        # Exclusive ordered comparisons exclude local and post releases of the given version.
        (("a>1.0",), ("1.0", "1.0+local"), None),
        (("a>1.0",), ("1.0", "1.0.post1"), None),
        (("a>1.0.post1",), ("1.0.post1", "1.0.post2"), "1.0.post2"),
        (("a>=1.0",), ("1.0", "1.0.post1"), "1.0.post1"),
        (("a==1.0",), ("1.0", "1.0.post1"), "1.0"),
        (("a~=1.0",), ("1.0", "1.0.post1"), "1.0.post1"),
        (("a<1.0",), ("0.9", "1.0rc1"), "0.9"),  # < excludes pre-releases of the bound
    ],
)
def test_local_and_post_releases(
    requires: tuple[str, ...], versions: tuple[str, ...], expected: str | None
) -> None:
    index = [("a", v) for v in versions]
    if expected is None:
        assert isinstance(_failure(requires, index), ResolutionError)
    else:
        assert _resolve(requires, index) == {"a": expected}


# -- extras ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requires", "index", "expected"),
    [
        pytest.param(
            ("a[x]",),
            (("a", "1.0", "b; extra == 'x'"), ("b", "1.0")),
            {"a": "1.0", "b": "1.0"},
            id="extra-pulls-its-requirement",
        ),
        pytest.param(
            ("a",), (("a", "1.0", "b; extra == 'x'"), ("b", "1.0")), {"a": "1.0"}, id="not-asked"
        ),
        pytest.param(
            ("a[x]",),
            (("a", "2.0", "b>=2; extra == 'x'"), ("a", "1.0", "b; extra == 'x'"), ("b", "1.0")),
            {"a": "1.0", "b": "1.0"},
            id="extra-backtracks-the-package",
        ),
        pytest.param(
            ("a[x]", "a<2"),
            (("a", "2.0", "b; extra == 'x'"), ("a", "1.0", "c; extra == 'x'"), ("c", "1.0")),
            {"a": "1.0", "c": "1.0"},
            id="extra-node-follows-the-plain-node",
        ),
        pytest.param(
            ("a[X_Y]",),
            (("a", "1.0", "b; extra == 'x-y'"), ("b", "1.0")),
            {"a": "1.0", "b": "1.0"},
            id="extra-names-are-normalized",
        ),
    ],
)
def test_extras(requires: tuple[str, ...], index: Index, expected: Mapping[str, str]) -> None:
    assert _resolve(requires, index) == expected


# -- Requires-Python and wheel tags ---------------------------------------------------------


def test_requires_python_from_the_page_is_explained_with_both_versions() -> None:
    base = make_base(version=(3, 8, 18))
    index = [("lib", "2.0", {"requires_python": ">=3.9"}), ("lib", "1.9")]
    assert _resolve(["lib"], index, base=base, judge=True) == {"lib": "1.9"}
    text = _text(_failure(["lib>=2"], index, base=base, judge=True))
    assert "lib 2.0: the base's Python 3.8.18 does not satisfy Requires-Python >=3.9" in text
    assert "was the index reachable" not in text


def test_requires_python_from_metadata_names_the_release_and_the_base_python() -> None:
    base = make_base(version=(3, 8, 18))
    index = [("lib", "2.0", {"requires_python": ">=3.9"})]
    text = _text(_failure(["lib"], index, base=base))  # not judged by the page: metadata
    assert "lib 2.0: the base's Python 3.8.18 does not satisfy Requires-Python >=3.9" in text


def test_wheels_for_other_tags_are_explained_with_the_base_s_best_tag() -> None:
    index = [
        ("fast", "2.0", {"tag": "cp312-cp312-manylinux_2_17_x86_64"}),
        ("fast", "1.0", {"tag": "cp311-cp311-manylinux_2_17_x86_64"}),
    ]
    assert _resolve(["fast"], index, judge=True) == {"fast": "1.0"}
    text = _text(_failure(["fast>=2"], index, judge=True))
    assert (
        "fast 2.0: no wheel matches the base (its best tag is cp311-cp311-manylinux_2_36_x86_64)"
        in text
    )


def test_a_name_the_index_does_not_have_is_said_so() -> None:
    text = _text(_failure(["nosuch"], [("a", "1.0")]))
    assert "the index has no project named nosuch" in text
    assert "reachable" not in text


# -- backtracking ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requires", "index", "expected"),
    [
        pytest.param(
            ("a", "b>=2"),
            (("a", "2.0", "b==1.0"), ("a", "1.0", "b==2.0"), ("b", "1.0"), ("b", "2.0")),
            {"a": "1.0", "b": "2.0"},
            id="newest-dependent-gives-way",
        ),
        pytest.param(
            ("a", "c"),
            (
                ("a", "2.0", "b<2"),
                ("a", "1.0", "b"),
                ("c", "1.0", "b>=2"),
                ("b", "1.0"),
                ("b", "2.0"),
            ),
            {"a": "1.0", "b": "2.0", "c": "1.0"},
            id="shared-dependency",
        ),
        pytest.param(
            ("a",),
            (("a", "3.0", "x==9"), ("a", "2.0", "b>=5"), ("a", "1.0"), ("b", "1.0")),
            {"a": "1.0"},
            id="missing-and-unsatisfiable-dependencies",
        ),
    ],
)
def test_backtracking(requires: tuple[str, ...], index: Index, expected: Mapping[str, str]) -> None:
    assert _resolve(requires, index) == expected


# -- the base: reuse, shadowing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("requires", "shadow", "expected", "reused"),
    [
        (("app",), "auto", {"app": "1.0"}, ("lib 1.5",)),  # the base copy satisfies
        (("app", "lib>=2"), "auto", {"app": "1.0", "lib": "2.0"}, ()),  # asked: shadowed
        (("app", "lib>=2"), "explicit", {"app": "1.0", "lib": "2.0"}, ()),  # named: may shadow
        (("app2",), "auto", {"app2": "1.0", "lib": "2.0"}, ()),  # a dependency needs more
        (("app2",), "explicit", None, ()),  # ... and may not shadow it
    ],
)
def test_base_shadowing(
    requires: tuple[str, ...],
    shadow: str,
    expected: Mapping[str, str] | None,
    reused: tuple[str, ...],
) -> None:
    base = make_base(dist("lib", "1.5"))
    index = [("app", "1.0", "lib>=1"), ("app2", "1.0", "lib>=2"), ("lib", "2.0"), ("lib", "1.0")]
    if expected is None:
        text = _text(_failure(requires, index, base=base, shadow=shadow))
        assert 'shadow = "explicit" keeps the base copy' in text
        return
    outcome = resolve([Requirement(r) for r in requires], base, _source(index), shadow=shadow)
    assert picks(outcome) == expected
    assert outcome.reused == reused


def test_hints_suggest_final_releases_only() -> None:
    base = make_base(dist("hdfio", "2.1.0"), dist("scanlib", "1.4.0", "hdfio<3"))
    index = [
        ("hdfio", "3.0.0"),
        ("scanlib", "1.5.0rc1", "hdfio>=2"),
        ("scanlib", "1.6.0", "hdfio>=2"),
    ]
    text = _text(_failure(["hdfio>=3"], index, base=base, shadow="explicit"))
    assert '"scanlib>=1.6.0"' in text
    assert "rc1" not in text
    # Opting in to pre-releases lets the hint name the closest one.
    text = _text(
        _failure(["hdfio>=3"], index, base=base, shadow="explicit", policy=ResolvePolicy("allow"))
    )
    assert '"scanlib>=1.5.0rc1"' in text


# -- duplicate requirements, real conflicts ------------------------------------------------


def test_two_entries_for_one_name_are_intersected() -> None:
    index = [("a", "1.0.0"), ("a", "1.5.0"), ("a", "2.0.0")]
    assert _resolve(["a>=1", "a<2"], index) == {"a": "1.5.0"}
    text = _text(_failure(["a==1.0.0", "a==2.0.0"], index))
    assert "a==1.0.0 (requested in overlay.toml) conflicts with a==2.0.0" in text


def test_a_conflict_names_only_the_requirements_that_take_part() -> None:
    index = [
        ("b", "1.0", "a>=0.5"),
        ("c", "1.0", "a<1.0"),
        ("a", "0.9"),
        ("a", "1.0"),
    ]
    text = _text(_failure(["a==1.0", "b", "c"], index))
    assert "a==1.0" in text and "a<1.0" in text
    assert "a>=0.5" not in text


# -- binary policy -------------------------------------------------------------------------

SDIST_NEWER = (("a", "1.0", {"files": "sdist"}), ("a", "0.9"))


def _policy(**kw: Any) -> ResolvePolicy:
    for key in ("only_binary", "no_binary"):
        if key in kw:
            kw[key] = binary_names(kw[key])
    return ResolvePolicy(**kw)


@pytest.mark.parametrize(
    ("policy", "index", "expected"),
    [
        pytest.param(_policy(), SDIST_NEWER, "0.9", id="sdist-only-set-aside"),
        pytest.param(_policy(allow_build=True), SDIST_NEWER, "1.0", id="allow-build"),
        pytest.param(
            _policy(allow_build=True, only_binary=["a"]), SDIST_NEWER, "0.9", id="only-binary-wins"
        ),
        pytest.param(
            _policy(allow_build=True, only_binary=[":all:"]), SDIST_NEWER, "0.9", id="only-all"
        ),
        pytest.param(
            _policy(allow_build=True, no_binary=["a"]),
            (("a", "1.0", {"files": "both"}), ("a", "1.1")),
            "1.0",
            id="no-binary-takes-the-sdist",
        ),
        pytest.param(
            _policy(allow_build=True, no_binary=[":all:"], only_binary=["a"]),
            (("a", "1.0", {"files": "sdist"}), ("a", "0.9", {"files": "both"})),
            "0.9",
            id="a-name-beats-all",
        ),
    ],
)
def test_binary_policy(policy: ResolvePolicy, index: Index, expected: str) -> None:
    outcome = resolve(
        [Requirement("a")],
        make_base(),
        _source(index),
        policy=policy,
        allow_build=policy.allow_build,
    )
    [pick] = outcome.picks
    assert str(pick.version) == expected
    if policy.sdist_only(pick.name):
        assert pick.release.wheel is None and pick.release.sdist is not None


def test_no_binary_without_allow_build_says_which_setting_is_missing() -> None:
    index = [("a", "1.0", {"files": "both"})]
    exc = _failure(["a"], index, policy=_policy(no_binary=["a"]))
    assert isinstance(exc, BuildRequiredError)
    text = _text(exc)
    assert "allow-build = true" in text


def test_only_binary_with_an_sdist_only_release_names_the_setting() -> None:
    exc = _failure(["a>=1"], SDIST_NEWER, policy=_policy(allow_build=True, only_binary=["a"]))
    assert isinstance(exc, ResolutionError)
    assert (
        'a 1.0: no wheel for the base, only an sdist, and only-binary = ["a"] forbids building'
        in _text(exc)
    )


def test_sdist_only_names_the_setting_that_would_admit_it() -> None:
    exc = _failure(["a>=1"], SDIST_NEWER)
    assert isinstance(exc, BuildRequiredError)
    assert "allow-build = true" in _text(exc)


def test_conflicts_carry_the_set_aside_releases_for_json() -> None:
    exc = _failure(["a>=2"], [("a", "1.0"), ("a", "2.0", YANKED)])
    assert isinstance(exc, ResolutionError)
    [conflict] = exc.conflicts
    assert conflict["set_aside"] == [{"version": "2.0", "reason": "yanked (broken build)"}]
