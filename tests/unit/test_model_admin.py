"""Reference model, gearmand-1.1: admin text commands and their exact reply bytes (facts (c)).

status, prioritystatus, show jobs and workers come out in a deterministic
order here; gearmand's own order is hash order, so a runner compares them as
unordered lines.
"""

from __future__ import annotations

import pytest
from test_model_support import Conversation, T, req


@pytest.fixture
def talk() -> Conversation:
    talk = Conversation()
    talk.connect("w", "c", "a")
    talk.send("w", req(T.SET_CLIENT_ID, b"worker one"), req(T.CAN_DO, b"f"), req(T.CAN_DO, b"g"))
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"u1", b"x"), req(T.SUBMIT_JOB_HIGH_BG, b"h", b"", b"y"))
    return talk


def test_workers_lists_every_connection(talk: Conversation) -> None:
    # fds come from a per-server counter starting at 3
    assert talk.admin("a", b"workers\n") == b"3 127.0.0.1 worker one : g f\n4 127.0.0.1 - :\n5 127.0.0.1 - :\n.\n"


def test_status_and_prioritystatus(talk: Conversation) -> None:
    # in gearmand's hash order: h, f and g fall in buckets 443, 751 and 852 of 991
    assert talk.admin("a", b"STATUS  extra\r\n") == b"h\t1\t0\t0\nf\t1\t0\t1\ng\t0\t0\t1\n.\n"
    assert talk.admin("a", b"prioritystatus\n") == b"h\t1\t0\t0\t0\nf\t0\t1\t0\t1\ng\t0\t0\t0\t1\n.\n"


def test_listings_follow_gearmand_hash_tables() -> None:
    """The order probe listing-order saw on gearmand 1.1.20 (spec/observed/gearmand-1.1.20-spec.yaml)."""
    talk = Conversation()
    talk.connect("w", "c", "a")
    names = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"f", b"g"]
    talk.send("w", *(req(T.CAN_DO, n) for n in names))
    for unique in (b"u1", b"u2", b"u3", b"u4", b"zz", b""):
        talk.send("c", req(T.SUBMIT_JOB_BG, b"alpha", unique, b"x"))
    rows = talk.admin("a", b"status\n").split(b"\n")
    order = [b"alpha", b"echo", b"foxtrot", b"delta", b"bravo", b"f", b"g", b"charlie"]
    assert [r.split(b"\t")[0] for r in rows[:-2]] == order
    assert talk.admin("a", b"show unique jobs\n") == b"\nzz\nu1\nu2\nu4\nu3\n.\n"
    # handles hash with the node name; the probe's node was "vm" too
    jobs = talk.admin("a", b"show jobs\n").split(b"\n")[:-2]
    assert [j.split(b"\t")[0] for j in jobs] == [b"H:vm:%d" % n for n in (1, 5, 2, 4, 6, 3)]


def test_a_function_name_hashes_as_gearmand_s_signed_chars() -> None:
    from gearsim.model.cnumbers import gearmand_hash

    assert gearmand_hash(b"alpha") % 991 == 336 and gearmand_hash(b"") == 1  # 0 reads as 1
    assert gearmand_hash(b"\xff") != gearmand_hash(b"\x7f")  # a byte of 0x80 or more counts negative


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"version\n", b"OK 1.1.20+ds\n"),
        (b"getpid\n", b"OK 4242\n"),
        (b"verbose\n", b"OK ERROR\n"),
        (b"maxqueue\n", b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"),
        (b"maxqueue f\n", b"OK\r\n"),
        (b"maxqueue nope 1 2 3\n", b"OK\r\n"),
        (b"show jobs\n", b"H:vm:1\t0\t0\t1\nH:vm:2\t0\t0\t1\n.\n"),
        (b"show unique jobs\n", b"\nu1\n.\n"),  # the empty unique's key is 0: bucket 0
        (b"show x\n", b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n"),
        (b"show\n", b"ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\n"),
        (b"cancel\n", b"ERR UNKNOWN_COMMAND Unknown+server+commandcancel\r\n"),
        (b"cancel x y\n", b"ERR UNKNOWN_ERROR\r\n"),
        (b"cancel job H:vm:7\n", b"ERR UNKNOWN_JOB\r\n"),
        (b"create\n", b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n"),
        (b"drop\n", b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+drop\r\n"),
        (b"drop function F\n", b"ERR there are still connected workers or executing clients\r\n"),
        (b"drop function nope\n", b"ERR function not found\r\n"),
        (b"shutdown\n", b"ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"),
        (b"\n", b"ERR UNKNOWN_COMMAND Unknown+server+command\r\n"),
        (b" status\n", b"ERR UNKNOWN_COMMAND Unknown+server+command\r\n"),
        (b"statusXYZ\n", b"ERR UNKNOWN_COMMAND Unknown+server+commandstatusXYZ\r\n"),
        (b"a b c d e\n", b"ERR UNKNOWN_COMMAND Unknown+server+commanda\r\n"),
    ],
)
def test_one_line_replies(talk: Conversation, line: bytes, reply: bytes) -> None:
    assert talk.admin("a", line) == reply


def test_six_words_close_the_connection(talk: Conversation) -> None:
    assert talk.admin("a", b"a b c d e f\n") == b""
    assert "a" in talk.closed


def test_create_function_loses_the_last_character_with_a_bare_newline() -> None:
    talk = Conversation()
    talk.connect("a")
    assert talk.admin("a", b"create function cfA\n") == b"OK\r\n"
    assert talk.admin("a", b"create function cfB\r\n") == b"OK\r\n"
    assert talk.admin("a", b"status\n") == b"cf\t0\t0\t0\ncfB\t0\t0\t0\n.\n"
    assert talk.admin("a", b"drop function CF\n") == b"OK\r\n"  # case-insensitive
    assert talk.admin("a", b"status\n") == b"cfB\t0\t0\t0\n.\n"


def test_maxqueue_sizes(talk: Conversation) -> None:
    talk.admin("a", b"maxqueue f 7\n")
    assert talk.server.functions()[0].max_queue == (7, 7, 7)
    talk.admin("a", b"maxqueue f 1 -2\n")
    assert talk.server.functions()[0].max_queue == (1, 0, 0)
    talk.admin("a", b"maxqueue f 1 2 3\n")
    assert talk.server.functions()[0].max_queue == (1, 2, 3)


def test_text_and_binary_mix_on_one_connection(talk: Conversation) -> None:
    got = talk.send("a", b"version\n", req(T.ECHO_REQ, b"e"), b"getpid\n")["a"]
    assert [type(m).__name__ for m in got] == ["AdminLine", "Packet", "AdminLine"]
