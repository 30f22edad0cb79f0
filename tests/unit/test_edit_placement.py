"""Where `overlock add` puts a ``requires`` array that overlay.toml does not have yet.

tomlkit can only append a key to a table, which lands after the comments that introduce the
next table; the edit places the new line in the text and checks that the document reads back
as before plus the array. These cases are the ones a text insertion can get wrong.
"""

from __future__ import annotations

import pytest
import tomlkit

from overlock.manifest.edit import add_requirements

pytestmark = pytest.mark.unit


def _added(text: str) -> str:
    edit = add_requirements(text, ["a"])
    # Whatever the placement, the result is the same TOML plus the new entry.
    before = tomlkit.parse(text).unwrap()
    assert tomlkit.parse(edit.text).unwrap() == {
        **before,
        "overlay": {**before["overlay"], "requires": ["a"]},
    }
    return edit.text


def test_after_the_last_key_before_the_next_tables_comments() -> None:
    text = (
        '[overlay]\nbase = "/b"\nprefix = "p"  # here\n\n'
        "# this comment introduces [index]\n[index]\nurls = []\n"
    )
    assert _added(text) == text.replace("# here\n", '# here\nrequires = ["a"]\n')


def test_a_header_without_keys_gets_the_line_right_below_it() -> None:
    text = "# top\n[overlay]  # empty so far\n\n# next\n[index]\nurls = []\n"
    assert _added(text) == text.replace("far\n", 'far\nrequires = ["a"]\n')


def test_a_multi_line_last_value_is_passed_over_whole() -> None:
    text = (
        '[overlay]\nbase = "/b"\nnote = """\n# not a comment\n[not.a.table]\n"""\n\n'
        "# next\n[index]\nurls = []\n"
    )
    assert _added(text) == text.replace('"""\n\n', '"""\nrequires = ["a"]\n\n')


def test_a_sub_table_after_overlay_keeps_its_own_keys() -> None:
    text = '[overlay]\nbase = "/b"\n\n[overlay.resolve]\nprefer = 1\n'
    assert _added(text) == text.replace('"/b"\n', '"/b"\nrequires = ["a"]\n')


def test_crlf_text_stays_crlf() -> None:
    text = '[overlay]\r\nbase = "/b"\r\n\r\n# next\r\n[index]\r\nurls = []\r\n'
    result = _added(text)
    assert result == text.replace('"/b"\r\n', '"/b"\r\nrequires = ["a"]\r\n')
    assert "\n" not in result.replace("\r\n", "")


def test_no_newline_at_the_end_of_the_file_stays_so() -> None:
    assert _added('[overlay]\nbase = "/b"') == '[overlay]\nbase = "/b"\nrequires = ["a"]'


def test_overlay_written_with_dotted_keys_falls_back_to_appending() -> None:
    text = 'overlay.base = "/b"\noverlay.prefix = "p"\n'
    assert "requires" in _added(text)


def test_overlay_after_other_tables_and_at_the_end() -> None:
    text = '[index]\nurls = []\n\n[overlay]\nbase = "/b"\n# trailing words\n'
    assert _added(text) == text.replace('"/b"\n', '"/b"\nrequires = ["a"]\n')
