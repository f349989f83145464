"""Unordered admin listings: each expected row takes a row of its own, and ``extra`` admits rows of other connections.

The workers listing of vectors/admin/listings.yaml::workers-rows-per-connection
expects three rows in any order and lets a server list the admin connection
too, or not (GM-ADMIN-016, GM-ADMIN-017). These tests hold the matcher to
that: the rows a server may send pass, and the ones a server gets wrong
(functions on another connection's row, all but the first function dropped,
a function repeated, a row no pattern and no ``extra`` takes) fail.
"""

from __future__ import annotations

import pytest

from gearsim.files import load_schema_text
from gearsim.protocol.packets import AdminLine
from gearsim.vectors.cases import AdminPattern, LineMatch
from gearsim.vectors.matching import match_admin
from gearsim.vectors.parse import parse_vector_text

ROWS = AdminPattern(
    lines=(
        LineMatch(r"\d+ \S+ wr-1 : (wr-a wr-b|wr-b wr-a)"),
        LineMatch(r"\d+ \S+ wr-2 : wr-c"),
        LineMatch(r"\d+ \S+ - : wr-a"),
        b".",
    ),
    unordered=True,
    extra=LineMatch(r"\d+ \S+ - : ?"),
)


def lines(*texts: str) -> list[AdminLine]:
    return [AdminLine(t.encode()) for t in (*texts, ".")]


@pytest.mark.parametrize(
    "got",
    [
        # gearmand 1.1.20, measured: the admin connection first, functions newest first
        lines("40 127.0.0.1 - :", "37 127.0.0.1 wr-1 : wr-b wr-a", "38 127.0.0.1 wr-2 : wr-c", "39 127.0.0.1 - : wr-a"),
        # Perl's server and gear, measured: the admin connection last, with a space after its colon
        lines("6 127.0.0.1 wr-1 : wr-a wr-b", "7 127.0.0.1 wr-2 : wr-c", "8 127.0.0.1 - : wr-a", "9 127.0.0.1 - : "),
        # a server that lists only connections with functions
        lines("8 127.0.0.1 - : wr-a", "7 127.0.0.1 wr-2 : wr-c", "6 127.0.0.1 wr-1 : wr-a wr-b"),
    ],
)
def test_the_rows_a_server_may_send_match(got: list[AdminLine]) -> None:
    assert match_admin(ROWS, got, {}) == ""


@pytest.mark.parametrize(
    "got",
    [
        # functions listed on another connection's row
        lines("6 h wr-1 : wr-c", "7 h wr-2 : wr-a wr-b", "8 h - : wr-a", "9 h - :"),
        # all but the first function of a row dropped
        lines("6 h wr-1 : wr-a", "7 h wr-2 : wr-c", "8 h - : wr-a", "9 h - :"),
        # a function repeated
        lines("6 h wr-1 : wr-a wr-b wr-a", "7 h wr-2 : wr-c", "8 h - : wr-a", "9 h - :"),
        # a row missing
        lines("6 h wr-1 : wr-a wr-b", "8 h - : wr-a", "9 h - :"),
        # a row listed twice, once without its functions: extra takes only rows with no client id and no function
        lines("6 h wr-1 : wr-a wr-b", "7 h wr-2 : wr-c", "8 h - : wr-a", "6 h wr-1 :"),
        # a row of functions no connection registered
        lines("6 h wr-1 : wr-a wr-b", "7 h wr-2 : wr-c", "8 h - : wr-a", "9 h - : wr-x"),
    ],
)
def test_rows_a_server_gets_wrong_fail(got: list[AdminLine]) -> None:
    assert match_admin(ROWS, got, {}) != ""


def test_without_extra_a_row_more_fails_as_before() -> None:
    plain = AdminPattern(lines=ROWS.lines, unordered=True)
    got = lines("6 h wr-1 : wr-a wr-b", "7 h wr-2 : wr-c", "8 h - : wr-a", "9 h - :")
    assert match_admin(plain, got, {}) != ""
    assert match_admin(plain, [*got[:3], got[4]], {}) == ""


def test_a_listing_must_still_end_with_its_full_stop() -> None:
    got = lines("6 h wr-1 : wr-a wr-b", "7 h wr-2 : wr-c", "8 h - : wr-a")[:-1]
    assert match_admin(ROWS, [*got, AdminLine(b"9 h - :")], {}) != ""


def test_a_pattern_that_could_take_another_row_leaves_it_to_the_pattern_that_needs_it() -> None:
    """The first row a pattern matches need not be its own: taking it would leave the exact row unmatched."""
    want = AdminPattern(lines=(LineMatch("a.*"), b"ab", b"."), unordered=True)
    assert match_admin(want, [AdminLine(b"ab"), AdminLine(b"ac"), AdminLine(b".")], {}) == ""


def test_a_pattern_that_could_take_an_extra_row_leaves_it_to_extra() -> None:
    want = AdminPattern(lines=(LineMatch(r"\d+ - : ?.*"), b"."), unordered=True, extra=LineMatch(r"\d+ - : ?"))
    assert match_admin(want, [AdminLine(b"1 - :"), AdminLine(b"2 - : f"), AdminLine(b".")], {}) == ""
    assert match_admin(want, [AdminLine(b"1 - : f"), AdminLine(b"2 - : g"), AdminLine(b".")], {}) != ""


CASE = """schema: gearsim-vectors/1
area: admin
title: t
header: [h]
notes: {{}}
source: {{author: t}}
cases:
- id: c
  comment: c
  requirements: [GM-ADMIN-008]
  result: valid
  actors: {{a1: admin}}
  steps:
  - {{connect: a1}}
  - {{send: a1, admin: workers}}
  - {{expect: a1, admin: {admin}}}
"""


def test_extra_is_read_as_a_regex_on_an_unordered_listing() -> None:
    text = CASE.format(admin="{lines: [.], unordered: true, extra: {match: '\\d+ \\S+ - : ?'}}")
    step = parse_vector_text(text, "t.yaml", load_schema_text()).cases[0].steps[-1]
    assert step.admin is not None and step.admin.extra == LineMatch(r"\d+ \S+ - : ?")


@pytest.mark.parametrize(
    "admin",
    [
        "{lines: [.], extra: {match: x}}",  # not unordered
        "{lines: [x], unordered: true, extra: {match: x}}",  # not a listing closed by '.'
        "{lines: [.], unordered: true, extra: x}",  # not a regex
    ],
)
def test_extra_elsewhere_is_refused(admin: str) -> None:
    with pytest.raises(ValueError, match="extra"):
        parse_vector_text(CASE.format(admin=admin), "t.yaml", load_schema_text())
