"""Trace records: the canonical text of each kind of record, hashing, diffing, excerpts."""

from __future__ import annotations

import hashlib

import pytest

from gearsim.protocol.packets import AdminLine, Magic, Packet, PacketType
from gearsim.protocol.trace import LONG_PAYLOAD, Kind, Trace, TraceRecord, diff, format_message, format_record, quote


def rec(
    tick: int = 0,
    seq: int = 0,
    conn: int = 1,
    label: str = "client",
    direction: str = "c>s",
    kind: str = "send",
    message: Packet | AdminLine | None = None,
    data: bytes = b"",
    note: str = "",
) -> TraceRecord:
    return TraceRecord(tick, seq, conn, label, direction, kind, message, data, note)


SUBMIT = Packet.req(PacketType.SUBMIT_JOB_BG, b"reverse", b"", b"this is a test")


def trace_of(*records: TraceRecord) -> Trace:
    return Trace(r._replace(seq=i) for i, r in enumerate(records))


# ---------------------------------------------------------------- text form


def test_a_message_record_reads_like_the_wire_conversation() -> None:
    line = format_record(rec(tick=3000, conn=2, message=SUBMIT))
    assert line == '000003000 c2 client>server SUBMIT_JOB_BG "reverse" "" "this is a test"'


def test_a_server_message_points_the_other_way() -> None:
    reply = Packet.res(PacketType.JOB_CREATED, b"H:lap:1")
    line = format_record(rec(tick=3, conn=2, label="worker", direction="s>c", message=reply))
    assert line == '000000003 c2 server>worker JOB_CREATED "H:lap:1"'


def test_an_unusual_magic_is_shown_and_the_usual_one_is_not() -> None:
    assert format_message(Packet.res(PacketType.ECHO_REQ, b"x"), "c>s") == 'ECHO_REQ[RES] "x"'
    assert format_message(Packet(b"\0XYZ", PacketType.NOOP), "s>c") == 'NOOP["\\x00XYZ"]'
    assert format_message(Packet(Magic.RES, PacketType.NOOP), "s>c") == "NOOP"
    assert format_message(Packet(Magic.REQ, 99, (b"?",)), "c>s") == 'UNKNOWN(99) "?"'


def test_admin_lines_show_their_text_and_an_unusual_end_of_line() -> None:
    assert format_message(AdminLine(b"status")) == 'TEXT "status"'
    assert format_message(AdminLine(b"status", b"\r\n")) == 'TEXT "status" crlf'


def test_byte_records_show_kind_length_and_escaped_data() -> None:
    line = format_record(rec(tick=7, kind="deliver", data=b'\0REQ\x10\n"\\'))
    assert line == '000000007 c1 client>server deliver 8 "\\x00REQ\\x10\\n\\"\\\\"'


def test_event_records_show_label_kind_and_note_on_one_line() -> None:
    line = format_record(rec(tick=25, direction="event", kind="cut", note="cut_at\nsecond line"))
    assert line == "000000025 c1 client cut # cut_at\\nsecond line"
    assert "\n" not in line


@pytest.mark.parametrize("byte", range(256))
def test_every_byte_quotes_to_printable_ascii_that_reads_back(byte: int) -> None:
    text = quote(bytes([byte]))
    assert text.isascii() and text.isprintable()
    assert eval("b" + text) == bytes([byte])  # the escapes are Python's own


def test_a_long_payload_shows_a_prefix_its_length_and_a_hash_prefix() -> None:
    data = b"A" * 32 + b"B" * 68
    text = quote(data)
    digest = hashlib.sha256(data).hexdigest()[:12]
    assert text == '"' + "A" * 32 + f'"...(100 bytes, sha256:{digest})'
    assert quote(b"x" * LONG_PAYLOAD) == '"' + "x" * LONG_PAYLOAD + '"'
    other = b"A" * 32 + b"C" * 68
    assert quote(other) != text  # same prefix, still told apart


# ------------------------------------------------------------- the Trace


def test_text_is_one_line_per_record() -> None:
    trace = trace_of(rec(message=SUBMIT), rec(tick=5, direction="event", kind="eof", note="at server"))
    assert trace.text() == (
        '000000000 c1 client>server SUBMIT_JOB_BG "reverse" "" "this is a test"\n000000005 c1 client eof # at server\n'
    )
    assert Trace().text() == ""


def test_the_hash_is_the_sha256_of_the_text_and_sees_any_change() -> None:
    trace = trace_of(rec(message=SUBMIT))
    assert trace.sha256() == hashlib.sha256(trace.text().encode()).hexdigest()
    assert trace_of(rec(message=SUBMIT)).sha256() == trace.sha256()
    assert trace_of(rec(tick=1, message=SUBMIT)).sha256() != trace.sha256()


def test_diff_is_empty_for_equal_traces_and_unified_otherwise() -> None:
    a = trace_of(rec(message=SUBMIT), rec(tick=9, direction="event", kind="cut"))
    b = trace_of(rec(message=SUBMIT), rec(tick=10, direction="event", kind="cut"))
    assert diff(a, a) == ""
    out = diff(a, b, names=("seed 1", "seed 2"))
    assert out.splitlines()[:2] == ["--- seed 1", "+++ seed 2"]
    assert "-000000009 c1 client cut" in out and "+000000010 c1 client cut" in out
    assert ' 000000000 c1 client>server SUBMIT_JOB_BG "reverse"' in out  # context line


def test_around_marks_the_record_and_keeps_its_neighbours() -> None:
    trace = trace_of(*(rec(tick=t, direction="event", kind="timer") for t in range(20)))
    lines = trace.around(10, before=2, after=1).splitlines()
    assert [line[:7].replace(" ", "") for line in lines] == ["8", "9", ">10", "11"]
    assert trace.around(0, before=5, after=0).splitlines() == [">     0 000000000 c1 client timer"]
    assert trace.tail(3).splitlines()[-1].startswith(">    19")


def test_select_and_messages_filter_records() -> None:
    reply = Packet.res(PacketType.JOB_CREATED, b"H:1")
    trace = trace_of(
        rec(message=SUBMIT),
        rec(kind="deliver", data=b"x"),
        rec(conn=2, direction="s>c", message=reply),
        rec(direction="event", kind=Kind.CLOSE),
    )
    assert trace.messages() == [SUBMIT, reply]
    assert trace.messages(direction="s>c") == [reply]
    assert [r.seq for r in trace.select(conn=1)] == [0, 1, 3]
    assert [r.seq for r in trace.select(kind="close")] == [3]


def test_traces_compare_by_records_and_index_like_lists() -> None:
    a = trace_of(rec(message=SUBMIT), rec(kind="deliver", data=b"y"))
    assert a == trace_of(rec(message=SUBMIT), rec(kind="deliver", data=b"y"))
    assert a != trace_of(rec(message=SUBMIT))
    assert a[1].data == b"y" and a[-1] is a[1] and len(a[0:1]) == 1
    assert "2 records" in repr(a)


def test_what_a_connection_holds_of_a_reply_cut_short_says_how_much_of_it_is_missing() -> None:
    from gearsim.protocol.codec import Decoder, encode
    from gearsim.protocol.trace import held_text

    whole = encode(Packet(Magic.RES, PacketType.ECHO_RES, (b"x" * 16385,)))
    decoder = Decoder()
    for start in range(0, len(whole) - 1, 4096):  # in reads, as a socket gives them; the last byte never comes
        assert decoder.feed(whole[start : min(start + 4096, len(whole) - 1)]) == []
    assert decoder.head() == whole[:32] and decoder.buffered == len(whole) - 1
    assert held_text(decoder.head(), decoder.buffered) == (
        "the connection holds the start of an ECHO_RES: its header announces 16385 body bytes, 16384 came"
        " (1 missing: a length field longer than the body, or a server that stopped mid-packet)"
    )
    assert held_text(b"\0RES\0\0", 6) == "the connection holds 6 bytes of a packet header, short of its 12"
    assert held_text(b"\0", 1) == "the connection holds 1 byte of a packet header, short of its 12"
    assert held_text(b"OK 1.1", 6) == 'the connection holds 6 bytes of an admin line, without its end of line: "OK 1.1"'
    assert held_text(b"x" * 32, 40) == (
        f'the connection holds 40 bytes of an admin line, without its end of line: "{"x" * 32}"...'
    )
    assert held_text(b"", 0) == ""
