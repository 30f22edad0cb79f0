"""overlay.toml loading and validation: every error path, with its line number."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement

from overlock.errors import BadInputError, ManifestError, ManifestIssue
from overlock.manifest.load import load_manifest
from overlock.manifest.model import FORMAT_VERSION, MANIFEST_FILENAME, IndexSettings, Manifest
from overlock.manifest.template import render_template

MINIMAL = """\
[overlay]
base = "/opt/conda/envs/analysis"
prefix = "/srv/overlays/{name}"
"""


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MANIFEST_FILENAME
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def issues_of(directory: Path, text: str) -> list[ManifestIssue]:
    path = write(directory, text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert info.value.path == str(path)
    return info.value.issues


def only_issue(directory: Path, text: str) -> ManifestIssue:
    issues = issues_of(directory, text)
    assert len(issues) == 1, issues
    return issues[0]


def summary(issues: list[ManifestIssue]) -> list[tuple[int | None, str]]:
    return [(i.line, i.key) for i in issues]


def packaging_reason(text: str) -> str:
    with pytest.raises(InvalidRequirement) as info:
        Requirement(text)
    return str(info.value).splitlines()[0]


# --- valid manifests --------------------------------------------------------------------


def test_full_example_loads_with_relative_paths_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    # Relative means relative to overlay.toml, never to the working directory.
    monkeypatch.chdir(tmp_path)
    path = write(
        project,
        """\
        # The analysis overlay.
        [overlay]
        base = "envs/analysis"                 # relative: next to overlay.toml
        prefix = "overlays/{name}"
        name = "analysis-hotfix"
        requires = [
            "seaborn==0.13.2",
            "urllib3>=2",
            "Typing_Extensions; python_version < '3.11'",
        ]

        [index]
        urls = ["https://index.example.org/simple", "http://mirror.example.org/simple"]
        find-links = ["wheels", "https://example.org/links/", "/abs/wheels"]

        [resolve]
        shadow = "explicit"
        """,
    )
    m = load_manifest(Path("project") / MANIFEST_FILENAME)

    assert m.path == path
    assert m.path.is_absolute()
    assert m.base == str(project / "envs" / "analysis")
    assert m.base_snapshot is None
    assert m.prefix_template == "overlays/{name}"
    assert m.name == "analysis-hotfix"
    assert m.requires_text == (
        "seaborn==0.13.2",
        "urllib3>=2",
        "Typing_Extensions; python_version < '3.11'",
    )
    assert [str(r) for r in m.requires] == [
        "seaborn==0.13.2",
        "urllib3>=2",
        'Typing_Extensions; python_version < "3.11"',
    ]
    assert m.requirement_names == ("seaborn", "urllib3", "typing-extensions")
    assert m.index == IndexSettings(
        urls=("https://index.example.org/simple", "http://mirror.example.org/simple"),
        find_links=(str(project / "wheels"), "https://example.org/links/", "/abs/wheels"),
    )
    assert m.shadow == "explicit"
    assert m.prefix("/opt/conda/envs/analysis") == project / "overlays" / "analysis-hotfix"


def test_minimal_manifest_takes_defaults(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, MINIMAL))
    assert m.base == "/opt/conda/envs/analysis"
    assert m.name is None
    assert m.requires == ()
    assert m.requires_text == ()
    assert m.requirement_names == ()
    assert m.index is None  # absent [index]: the user's pip configuration applies
    assert m.shadow == "auto"


def test_base_snapshot_form(tmp_path: Path) -> None:
    m = load_manifest(
        write(
            tmp_path,
            """\
            [overlay]
            base-snapshot = "snapshots/beamline.json"
            prefix = "/srv/overlays/{name}"
            """,
        )
    )
    assert m.base is None
    assert m.base_snapshot == tmp_path / "snapshots" / "beamline.json"


def test_base_as_python_executable_is_kept_as_a_string(tmp_path: Path) -> None:
    m = load_manifest(
        write(
            tmp_path,
            """\
            [overlay]
            base = "/opt/conda/envs/analysis/bin/python3.11"
            prefix = "/srv/x"
            """,
        )
    )
    assert m.base == "/opt/conda/envs/analysis/bin/python3.11"
    assert isinstance(m.base, str)


def test_home_directory_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    m = load_manifest(
        write(
            tmp_path / "proj",
            """\
            [overlay]
            base = "~/envs/analysis"
            prefix = "~/overlays/{name}"
            [index]
            find-links = ["~/wheels"]
            """,
        )
    )
    assert m.base == str(home / "envs" / "analysis")
    assert m.prefix("/opt/envs/analysis") == home / "overlays" / "analysis"
    assert m.index == IndexSettings(urls=(), find_links=(str(home / "wheels"),))


def test_name_defaults_to_base_directory_and_fills_prefix(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, MINIMAL))
    assert m.overlay_name("/opt/conda/envs/analysis") == "analysis"
    assert m.overlay_name("/opt/conda/envs/analysis/") == "analysis"
    assert m.prefix("/opt/conda/envs/analysis") == Path("/srv/overlays/analysis")


def test_explicit_name_wins_over_base_directory(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, MINIMAL + 'name = "hotfix"\n'))
    assert m.overlay_name("/opt/conda/envs/analysis") == "hotfix"
    assert m.prefix("/opt/conda/envs/analysis") == Path("/srv/overlays/hotfix")


def test_prefix_without_placeholder_and_with_escaped_braces(tmp_path: Path) -> None:
    m = load_manifest(
        write(
            tmp_path,
            """\
            [overlay]
            base = "/opt/env"
            prefix = "pfx/{{literal}}/{name}-{name}"
            """,
        )
    )
    assert m.prefix("/opt/env") == tmp_path / "pfx" / "{literal}" / "env-env"


def test_direct_references_are_accepted(tmp_path: Path) -> None:
    m = load_manifest(
        write(
            tmp_path,
            MINIMAL
            + 'requires = ["pkg @ https://host/pkg-1.0-py3-none-any.whl",'
            + ' "other[extra] @ file:///wheels/other-2.0-py3-none-any.whl"]\n',
        )
    )
    assert [r.url for r in m.requires] == [
        "https://host/pkg-1.0-py3-none-any.whl",
        "file:///wheels/other-2.0-py3-none-any.whl",
    ]
    assert m.requirement_names == ("pkg", "other")


def test_same_project_under_different_markers_is_allowed(tmp_path: Path) -> None:
    m = load_manifest(
        write(
            tmp_path,
            MINIMAL
            + """requires = [
                "numpy<2; python_version < '3.10'",
                "numpy>=2; python_version >= '3.10'",
                "scipy",
            ]
            """,
        )
    )
    assert len(m.requires) == 3
    # Names appear once each, in order, although numpy is named twice.
    assert m.requirement_names == ("numpy", "scipy")


def test_format_key_is_optional_and_accepts_the_current_version(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, MINIMAL + f"format = {FORMAT_VERSION}\n"))
    assert m.base == "/opt/conda/envs/analysis"


def test_find_links_only_index(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, MINIMAL + '[index]\nfind-links = ["wheels"]\n'))
    assert m.index == IndexSettings(urls=(), find_links=(str(tmp_path / "wheels"),))


# --- reading and parsing ----------------------------------------------------------------


def test_missing_file_points_at_init(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_FILENAME
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    (issue,) = info.value.issues
    assert "not found" in issue.message
    assert issue.line is None
    assert info.value.message == f"there is no overlay manifest at {path}"
    assert "overlock init" in (info.value.hint or "")
    assert isinstance(info.value, BadInputError)
    assert info.value.exit_code == 2


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path)
    (issue,) = info.value.issues
    assert "directory" in issue.message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_FILENAME
    path.write_bytes(b'[overlay]\nname = "caf\xe9"\n')
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    (issue,) = info.value.issues
    assert "UTF-8" in issue.message


def test_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        """\
        [overlay]
        base = "/opt/env"
        prefix = "/srv/{name}
        """,
    )
    assert issue.line == 3
    assert issue.message.startswith("invalid TOML")
    assert " at line " not in issue.message  # the line lives in .line, not twice in the text


def test_duplicate_key_is_a_syntax_error_with_line(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + 'base = "/opt/other"\n')
    assert issue.line == 4
    assert "already exists" in issue.message


# --- unknown tables and keys ------------------------------------------------------------


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        """\
        [overlay]
        base = "/opt/env"
        prefix = "/srv/x"
        requirs = ["numpy"]
        """,
    )
    assert (issue.line, issue.key) == (4, "[overlay] requirs")
    assert issue.message == "unknown key; did you mean `requires`?"


def test_snake_case_spelling_suggests_kebab_case(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        """\
        [overlay]
        base_snapshot = "base.json"
        prefix = "/srv/x"

        [index]
        find_links = ["wheels"]
        """,
    )
    assert summary(issues) == [
        (1, "[overlay]"),  # no base at all, since base_snapshot is not a key
        (2, "[overlay] base_snapshot"),
        (5, "[index]"),  # nothing valid left in [index]
        (6, "[index] find_links"),
    ]
    assert issues[1].message == "unknown key; did you mean `base-snapshot`?"
    assert issues[3].message == "unknown key; did you mean `find-links`?"


def test_misspelled_overlay_key_bse(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        """\
        [overlay]
        bse = "/opt/env"
        prefix = "/srv/x"
        """,
    )
    assert summary(issues) == [(1, "[overlay]"), (2, "[overlay] bse")]
    assert "base-snapshot" in issues[0].message
    assert issues[1].message == "unknown key; did you mean `base`?"


def test_unknown_table_suggests_nearest(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + '\n[resolv]\nshadow = "auto"\n')
    assert (issue.line, issue.key) == (5, "[resolv]")
    assert issue.message == "unknown table; did you mean [resolve]?"


def test_unknown_table_without_near_match(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + "[tool.other]\nx = 1\n")
    assert (issue.line, issue.key) == (4, "[tool]")
    assert issue.message == "unknown table"


def test_key_in_the_wrong_table_names_its_home(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + 'shadow = "explicit"\n')
    assert (issue.line, issue.key) == (4, "[overlay] shadow")
    assert issue.message == "unknown key; `shadow` belongs in [resolve]"


def test_unrecognisable_key_lists_the_valid_ones(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + "[resolve]\nzzz = 1\n")
    assert (issue.line, issue.key) == (5, "[resolve] zzz")
    assert issue.message == (
        "unknown key; valid keys: shadow, allow-build, prereleases, only-binary, no-binary,"
        " upstream-metadata, keep"
    )


def test_top_level_key_names_its_table(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, 'requires = ["numpy"]\n\n' + MINIMAL)
    assert (issue.line, issue.key) == (1, "requires")
    assert issue.message == "unknown top-level key; it belongs in [overlay]"


def test_missing_overlay_table(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, "# nothing here yet\n")
    assert (issue.line, issue.key) == (None, "[overlay]")
    assert "missing table" in issue.message


def test_newer_format_reports_only_that(tmp_path: Path) -> None:
    # The unknown keys of a later format would only be noise next to "upgrade overlock".
    issue = only_issue(tmp_path, MINIMAL + "format = 2\nfuture-key = true\n[future]\nx = 1\n")
    assert (issue.line, issue.key) == (4, "[overlay] format")
    assert "upgrade overlock" in issue.message


@pytest.mark.parametrize("value", ['"1"', "0", "true"])
def test_bad_format_value(tmp_path: Path, value: str) -> None:
    issue = only_issue(tmp_path, MINIMAL + f"format = {value}\n")
    assert (issue.line, issue.key) == (4, "[overlay] format")
    assert issue.message.startswith(f"must be {FORMAT_VERSION}, not ")


# --- types and required values ----------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ("prefix = 42", "[overlay] prefix", "must be a string, not an integer"),
        ("name = true", "[overlay] name", "must be a string, not a boolean"),
        ("name = 1979-05-27", "[overlay] name", "must be a string, not a date"),
        ("name = 1979-05-27 07:32:00", "[overlay] name", "must be a string, not a date-time"),
        (
            'requires = "numpy"',
            "[overlay] requires",
            "must be an array of requirement strings, not a string",
        ),
        (
            "requires = { numpy = 1 }",
            "[overlay] requires",
            "must be an array of requirement strings, not a table",
        ),
        ('base = ["/opt/env"]', "[overlay] base", "must be a string, not an array"),
    ],
)
def test_wrong_types(tmp_path: Path, line: str, key: str, message: str) -> None:
    # The bad line replaces the valid one of the same key, or is added, always as line 4.
    keep = [
        kept
        for kept in MINIMAL.splitlines()
        if kept.split(" = ")[0] not in (line.split(" = ")[0], "[overlay]")
    ]
    text = "\n".join(["[overlay]", *keep, line]) + "\n"
    issue = only_issue(tmp_path, text)
    assert (issue.line, issue.key, issue.message) == (len(keep) + 2, key, message)


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ('[overlay]\nbase = "/e"\nprefix = "/p"\n[index]\nurls = "https://x/simple"\n',
         5, "[index] urls", "must be an array of strings, not a string"),
        ('[overlay]\nbase = "/e"\nprefix = "/p"\n[index]\nfind-links = [1]\n',
         5, "[index] find-links[0]", "must be a string, not an integer"),
        ('[overlay]\nbase = "/e"\nprefix = "/p"\n[resolve]\nshadow = false\n',
         5, "[resolve] shadow", "must be a string, not a boolean"),
        ('overlay = "x"\n', 1, "[overlay]", "must be a table, not a string"),
        ('[overlay]\nbase = "/e"\nprefix = "/p"\n[[index]]\nurls = ["https://x/simple"]\n',
         4, "[index]", "must be a table, not an array"),
    ],
)  # fmt: skip
def test_wrong_types_in_other_tables(
    tmp_path: Path, text: str, line: int, key: str, message: str
) -> None:
    issue = only_issue(tmp_path, text)
    assert (issue.line, issue.key, issue.message) == (line, key, message)


def test_requires_entry_that_is_not_a_string(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + 'requires = [\n  "numpy",\n  3.5,\n]\n')
    assert (issue.line, issue.key) == (6, "[overlay] requires[1]")
    assert issue.message == "must be a requirement string or a table, not a float"


def test_missing_prefix_is_reported_at_the_table(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        """\
        # comment

        [overlay]
        base = "/opt/env"
        """,
    )
    assert (issue.line, issue.key) == (3, "[overlay]")
    assert "missing `prefix`" in issue.message


def test_neither_base_nor_snapshot(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '\n\n[overlay]\nprefix = "/srv/x"\n')
    assert (issue.line, issue.key) == (3, "[overlay]")
    assert "`base`" in issue.message
    assert "`base-snapshot`" in issue.message


def test_both_base_and_snapshot(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + 'base-snapshot = "base.json"\n')
    assert (issue.line, issue.key) == (4, "[overlay] base-snapshot")
    assert issue.message == "set either `base` or `base-snapshot`, not both"


def test_empty_strings(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        """\
        [overlay]
        base = ""
        prefix = "  "
        name = ""
        requires = ["numpy", ""]
        [index]
        urls = [""]
        """,
    )
    assert summary(issues) == [
        (2, "[overlay] base"),
        (3, "[overlay] prefix"),
        (4, "[overlay] name"),
        (5, "[overlay] requires[1]"),
        (7, "[index] urls[0]"),
    ]
    assert [i.message for i in issues] == [
        "must not be empty",
        "must not be empty",
        "must not be empty",
        "empty requirement",
        "must not be empty",
    ]


@pytest.mark.parametrize("name", ["a/b", "..", ".", "a\\\\b"])
def test_name_must_be_one_directory(tmp_path: Path, name: str) -> None:
    issue = only_issue(tmp_path, MINIMAL + f'name = "{name}"\n')
    assert (issue.line, issue.key) == (4, "[overlay] name")
    assert "not a plain directory name" in issue.message


def test_invalid_shadow_policy(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + '[resolve]\nshadow = "always"\n')
    assert (issue.line, issue.key) == (5, "[resolve] shadow")
    assert issue.message == '"always" is not a policy; use "auto" or "explicit"'


# --- prefix placeholders ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("/srv/{user}/{name}", "unknown placeholder `{user}`; only `{name}` is allowed"),
        ("/srv/{}", "unknown placeholder `{}`; only `{name}` is allowed"),
        ("/srv/{0}", "unknown placeholder `{0}`; only `{name}` is allowed"),
        ("/srv/{name!r}", "write the placeholder as plain `{name}`"),
        ("/srv/{name:>10}", "write the placeholder as plain `{name}`"),
        ("/srv/{name", "unbalanced `{` or `}`; write `{{` or `}}` for a literal brace"),
        ("/srv/name}", "unbalanced `{` or `}`; write `{{` or `}}` for a literal brace"),
    ],
)
def test_prefix_placeholders(tmp_path: Path, prefix: str, message: str) -> None:
    issue = only_issue(tmp_path, f'[overlay]\nbase = "/opt/env"\nprefix = "{prefix}"\n')
    assert (issue.line, issue.key, issue.message) == (3, "[overlay] prefix", message)


# --- [index] ----------------------------------------------------------------------------


def test_empty_index_urls(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + "[index]\nurls = []\n")
    assert (issue.line, issue.key) == (5, "[index] urls")
    assert issue.message.startswith("empty; list at least one index URL")


def test_empty_index_table(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, MINIMAL + "\n[index]\n")
    assert (issue.line, issue.key) == (5, "[index]")
    assert issue.message.startswith("empty table")


def test_index_urls_must_be_urls(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        MINIMAL
        + """\
        [index]
        urls = [
            "https://ok.example.org/simple",
            "pypi.org/simple",
            "ftp://files.example.org/simple",
            "https:///simple",
            "https://exa mple.org/simple",
            "file:///srv/simple",
            "file://",
        ]
        """,
    )
    assert summary(issues) == [
        (7, "[index] urls[1]"),
        (8, "[index] urls[2]"),
        (9, "[index] urls[3]"),
        (10, "[index] urls[4]"),
        (12, "[index] urls[6]"),
    ]
    assert [i.message for i in issues] == [
        '"pypi.org/simple": not a URL; expected http://, https:// or file://',
        '"ftp://files.example.org/simple": not a URL; expected http://, https:// or file://',
        '"https:///simple": URL has no host',
        '"https://exa mple.org/simple": URLs must not contain whitespace',
        '"file://": file URL has no path',
    ]


def test_find_links_accept_paths_but_check_urls(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        MINIMAL + '[index]\nfind-links = ["wheels", "./more", "htps://example.org/links"]\n',
    )
    assert (issue.line, issue.key) == (5, "[index] find-links[2]")
    assert "not a URL" in issue.message


# --- requirements -----------------------------------------------------------------------


def test_invalid_requirement_names_entry_and_reason(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        MINIMAL
        + """\
        requires = [
            "seaborn==0.13.2",
            "urllib3>=2",
            "numpy>>1",
        ]
        """,
    )
    assert (issue.line, issue.key) == (7, "[overlay] requires[2]")
    assert issue.message == f'"numpy>>1": {packaging_reason("numpy>>1")}'
    assert "\n" not in issue.message  # packaging's caret diagram would break the list


@pytest.mark.parametrize("bad", ["foo bar", "a[b", "x; python_version >= '3' and", "@ https://x"])
def test_other_invalid_requirements(tmp_path: Path, bad: str) -> None:
    issue = only_issue(tmp_path, MINIMAL + f'requires = ["ok", "{bad}"]\n')
    assert (issue.line, issue.key) == (4, "[overlay] requires[1]")
    assert issue.message.startswith(f'"{bad}": ')
    assert issue.message.endswith(packaging_reason(bad))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("numpy>=1.25", "numpy<2"),
        ("Typing_Extensions", "typing.extensions>=4"),  # canonical names compare equal
        ("pkg[a]", "pkg[b]"),
        ("numpy; sys_platform == 'linux'", "numpy>1; sys_platform == 'linux'"),
    ],
)
def test_same_project_twice_is_kept_for_the_resolver_to_intersect(
    tmp_path: Path, first: str, second: str
) -> None:
    m = load_manifest(
        write(
            tmp_path,
            MINIMAL + f'requires = [\n    "{first}",\n    "scipy",\n    "{second}",\n]\n',
        )
    )
    assert m.requires_text == (first, "scipy", second)
    assert [str(r) for r in m.requires] == [str(Requirement(t)) for t in m.requires_text]


def test_resolve_policy_keys(tmp_path: Path) -> None:
    m = load_manifest(
        write(
            tmp_path,
            MINIMAL + 'requires = []\n[resolve]\nprereleases = "allow"\n'
            'only-binary = [":all:"]\nno-binary = ["Foo_Bar"]\n',
        )
    )
    assert (m.prereleases, m.only_binary, m.no_binary) == ("allow", (":all:",), ("foo-bar",))
    plain = load_manifest(write(tmp_path / "plain", MINIMAL + "requires = []\n"))
    # Set keys change what the manifest means; unset ones leave older locks current.
    assert plain.content_hash() != m.content_hash()
    assert plain.prereleases == "pep440"


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('prereleases = "sometimes"', "[resolve] prereleases", '"if-necessary-or-explicit"'),
        ('only-binary = ["no good"]', "[resolve] only-binary[0]", "not a project name"),
        ('only-binary = ["a"]\nno-binary = ["A"]', "[resolve] no-binary", "a also in only-binary"),
    ],
)
def test_resolve_policy_errors(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    issue = only_issue(tmp_path, MINIMAL + "requires = []\n[resolve]\n" + text + "\n")
    assert issue.key == key
    assert fragment in issue.message


# --- several issues, line numbers in awkward places -------------------------------------


def test_every_issue_reported_together_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [resolve]
        shadow = "sometimes"

        [overlay]
        bse = "/opt/env"
        prefix = "overlays/{nme}"
        requires = [
            "seaborn==0.13.2",
            42,
            "numpy>>1",
            "Seaborn>=0.1",
        ]
        shadow = "auto"

        [indx]
        urls = []
        """,
    )
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert summary(info.value.issues) == [
        (2, "[resolve] shadow"),
        (4, "[overlay]"),
        (5, "[overlay] bse"),
        (6, "[overlay] prefix"),
        (9, "[overlay] requires[1]"),
        (10, "[overlay] requires[2]"),
        (13, "[overlay] shadow"),
        (15, "[indx]"),
    ]
    text = str(info.value)
    assert text.startswith(f"{path} has 8 problems:\n")
    assert "  line 5: [overlay] bse: unknown key; did you mean `base`?\n" in text
    assert "  line 15: [indx]: unknown table; did you mean [index]?\n" in text


def test_lines_are_not_fooled_by_strings_and_comments(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        '''\
        # [index]
        # urls = []
        [overlay]
        base = "/opt/env"  # prefix = "x{y}"
        prefix = """/srv/
        [resolve]
        shadow = 1
        {bad}"""
        notes = \'\'\'
        requires = ["numpy>>1"]
        \'\'\'
        requires = [  # "numpy>>1" in a comment
            "a", "b", 'c>>1', # two on one line, then the bad one
            """d""", "e @ https://host/e-1.0.tar.gz#sha256=abc",  # "x>>1"
            "f>>1",
        ]
        ''',
    )
    assert summary(issues) == [
        (5, "[overlay] prefix"),
        (9, "[overlay] notes"),
        (13, "[overlay] requires[2]"),
        (15, "[overlay] requires[5]"),
    ]
    # The multi-line prefix holds newlines: refused for that before its placeholder is read.
    assert "control character" in issues[0].message


def test_lines_for_dotted_keys_and_inline_tables(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        """\
        overlay.base = "/opt/env"
        overlay.prefix = "/srv/x"
        overlay.requires = ["ok",
          "bad>>1"]
        resolve = { shadow = "never" }
        index = { urls = ["https://x.example/simple"],
                  mirror = "y" }
        """,
    )
    assert summary(issues) == [
        (4, "[overlay] requires[1]"),
        (5, "[resolve] shadow"),
        (7, "[index] mirror"),  # TOML 1.0 inline tables are one line; tomlkit allows more
    ]


# --- content hash -----------------------------------------------------------------------

HASHED = """\
[overlay]
base = "envs/analysis"
prefix = "overlays/{name}"
name = "hotfix"
requires = ["seaborn==0.13.2", "urllib3>=2"]

[index]
urls = ["https://index.example.org/simple"]
find-links = ["wheels"]

[resolve]
shadow = "auto"
"""


def hash_of(directory: Path, text: str) -> str:
    return load_manifest(write(directory, text)).content_hash()


def test_content_hash_shape(tmp_path: Path) -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hash_of(tmp_path, HASHED))


def test_content_hash_ignores_formatting(tmp_path: Path) -> None:
    reformatted = """\
    # Comments change nothing.
    [resolve]
    shadow = 'auto'   # literal string, same value

    [index]
    find-links = [ "wheels" ]
    urls = [
        "https://index.example.org/simple",  # trailing comma below
    ]

    [overlay]
    requires = [
      "seaborn==0.13.2",
      "urllib3>=2",
    ]
    name = "hotfix"
    prefix    =    "overlays/{name}"
    base = "envs/analysis"
    """
    assert hash_of(tmp_path / "a", HASHED) == hash_of(tmp_path / "b", reformatted)


def test_content_hash_treats_default_shadow_as_written_shadow(tmp_path: Path) -> None:
    without = HASHED.replace('\n[resolve]\nshadow = "auto"\n', "")
    assert without != HASHED
    assert hash_of(tmp_path / "a", HASHED) == hash_of(tmp_path / "b", without)


def test_content_hash_survives_moving_the_checkout(tmp_path: Path) -> None:
    # Relative paths enter the hash as written, so a clone elsewhere is not stale.
    assert hash_of(tmp_path / "here", HASHED) == hash_of(tmp_path / "else" / "where", HASHED)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"urllib3>=2"', '"urllib3>=2.1"'),
        ('["seaborn==0.13.2", "urllib3>=2"]', '["urllib3>=2", "seaborn==0.13.2"]'),
        ('["seaborn==0.13.2", "urllib3>=2"]', '["seaborn==0.13.2"]'),
        ('base = "envs/analysis"', 'base = "envs/other"'),
        ('base = "envs/analysis"', 'base-snapshot = "envs/analysis"'),
        ('prefix = "overlays/{name}"', 'prefix = "overlays/x-{name}"'),
        ('name = "hotfix"', 'name = "hotfix2"'),
        ('name = "hotfix"\n', ""),
        ('shadow = "auto"', 'shadow = "explicit"'),
        ('find-links = ["wheels"]', 'find-links = ["wheels2"]'),
        ('urls = ["https://index.example.org/simple"]', 'urls = ["https://other.org/simple"]'),
        (
            '[index]\nurls = ["https://index.example.org/simple"]\nfind-links = ["wheels"]\n',
            "",
        ),
    ],
)
def test_content_hash_changes_with_meaning(tmp_path: Path, old: str, new: str) -> None:
    changed = HASHED.replace(old, new)
    assert changed != HASHED
    assert hash_of(tmp_path / "a", HASHED) != hash_of(tmp_path / "b", changed)


def test_manifest_built_in_code_hashes_its_values(tmp_path: Path) -> None:
    # Other stages build Manifests directly in tests; without the as-written fields the
    # hash uses the values themselves and still tells manifests apart.
    def build(**changes: object) -> Manifest:
        fields: dict[str, object] = {
            "path": tmp_path / MANIFEST_FILENAME,
            "base": "/opt/env",
            "base_snapshot": None,
            "prefix_template": "/srv/{name}",
            "name": None,
            "requires": (Requirement("numpy"),),
            "requires_text": ("numpy",),
            "index": IndexSettings(urls=("https://x.example/simple",), find_links=("/w",)),
            "shadow": "auto",
        }
        fields.update(changes)
        return Manifest(**fields)  # type: ignore[arg-type]

    same = build().content_hash()
    assert same == build().content_hash()
    assert same != build(base="/opt/other").content_hash()
    assert same != build(base=None, base_snapshot=Path("/opt/env")).content_hash()
    assert same != build(index=IndexSettings(urls=("https://x.example/simple",))).content_hash()
    loaded = load_manifest(
        write(
            tmp_path,
            """\
            [overlay]
            base = "/opt/env"
            prefix = "/srv/{name}"
            requires = ["numpy"]
            [index]
            urls = ["https://x.example/simple"]
            find-links = ["/w"]
            """,
        )
    )
    assert loaded.content_hash() == same
    assert build().prefix("/opt/env") == Path("/srv/env")


# --- template ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [None, "hotfix"])
def test_template_round_trips(tmp_path: Path, name: str | None) -> None:
    text = render_template("/opt/conda/envs/analysis", "overlays/{name}", name)
    assert "#" in text  # it is meant to be read and edited by people
    path = tmp_path / MANIFEST_FILENAME
    path.write_text(text, encoding="utf-8")
    m = load_manifest(path)
    assert m.base == "/opt/conda/envs/analysis"
    assert m.prefix_template == "overlays/{name}"
    assert m.name == name
    assert m.requires == ()
    assert m.index is None
    assert m.shadow == "auto"
    expected = name or "analysis"
    assert m.prefix("/opt/conda/envs/analysis") == tmp_path / "overlays" / expected


def test_template_quotes_awkward_values(tmp_path: Path) -> None:
    base = 'C:\\envs\\"odd" env'
    text = render_template(base, "/srv/{name}", "we'ird")
    path = tmp_path / MANIFEST_FILENAME
    path.write_text(text, encoding="utf-8")
    m = load_manifest(path)
    assert m.base_text == base
    assert m.name == "we'ird"


def test_template_sections_can_be_uncommented(tmp_path: Path) -> None:
    # The commented-out examples must themselves be valid once a user enables them.
    text = render_template("/opt/env", "/srv/{name}", None)
    enabled = re.sub(r"^# (\[index\]|\[resolve\]|urls|find-links|shadow|name)", r"\1", text,
                     flags=re.MULTILINE)  # fmt: skip
    assert enabled != text
    path = tmp_path / MANIFEST_FILENAME
    path.write_text(enabled, encoding="utf-8")
    m = load_manifest(path)
    assert m.name == "my-overlay"
    assert m.index == IndexSettings(urls=("https://pypi.org/simple",), find_links=())
    assert m.shadow == "auto"


def test_table_defined_by_dotted_keys_is_placed_at_its_first_line(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, 'overlay.base = "/opt/env"\noverlay.name = "x"\n')
    assert (issue.line, issue.key) == (1, "[overlay]")
    assert "missing `prefix`" in issue.message
