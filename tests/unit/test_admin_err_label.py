"""Under the neutral profile an expected admin ERR line is a label: GM-ADMIN-015 asks only that it start with ERR.

gearmand answers an unknown command ``ERR UNKNOWN_COMMAND Unknown+server+command``;
Perl says ``ERR unknown_command``. Both meet the rule, so under ``spec`` the
vector's gearmand words must not decide the verdict; a reply that is not an
ERR at all still must not match.
"""

from __future__ import annotations

from gearsim.protocol.packets import AdminLine
from gearsim.run.expectations import _err_as_label
from gearsim.vectors.cases import AdminPattern
from gearsim.vectors.matching import match_admin

GEARMAND = AdminPattern(lines=(b"ERR UNKNOWN_COMMAND Unknown+server+command",), eol=b"\r\n")


def _line(text: bytes) -> AdminLine:
    return AdminLine(text.rstrip(b"\n"), b"\n")


def test_another_servers_err_words_match_under_spec() -> None:
    got = [_line(b"ERR unknown_command\n")]
    assert match_admin(GEARMAND, got, {}, any_eol=True) != ""  # the words differ: a profile pinning them fails
    assert match_admin(_err_as_label(GEARMAND), got, {}, any_eol=True) == ""


def test_a_line_that_is_not_err_still_fails_under_spec() -> None:
    for text in (b"OK\n", b"ERROR unknown\n", b"unknown command\n"):
        assert match_admin(_err_as_label(GEARMAND), [_line(text)], {}, any_eol=True) != "", text


def test_lines_other_than_err_are_kept_as_written() -> None:
    pattern = AdminPattern(lines=(b"OK",), eol=b"\r\n")
    assert _err_as_label(pattern) == pattern
