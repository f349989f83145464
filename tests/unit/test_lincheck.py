"""Judging a server's observed history by the orders it allows (gearsim.lincheck), on hand-built histories.

Each history is a script of what connections sent and received, with
capture times in milliseconds: what a capture of a server would show.
"""

from __future__ import annotations

from gearsim.lincheck.history import CONNECT, DISCONNECT, SEND, History, Op, Seen, Track, set_due_times
from gearsim.lincheck.partition import JOB, split
from gearsim.lincheck.verdict import BROKEN, INCONCLUSIVE, UNDECIDED, UNKNOWN, Finding, judge, state_budget
from gearsim.protocol.packets import Packet, PacketType

T = PacketType
MS = 1_000_000


def req(kind: int, *args: bytes) -> Packet:
    return Packet.req(kind, *args)


def res(kind: int, *args: bytes) -> Packet:
    return Packet.res(kind, *args)


class Script:
    """A history written as it happens: ``open``, ``send`` (client to server), ``got`` (server to client)."""

    def __init__(self) -> None:
        self.history = History("127.0.0.1:4730")
        self.frame = 0

    def _next(self) -> int:
        self.frame += 1
        return self.frame

    def open(self, conn: int, ms: float, midstream: bool = False) -> None:
        track = Track(conn, f"127.0.0.1:{40000 + conn}", "127.0.0.1:4730", midstream=midstream)
        track.ops.append(Op(conn, 0, CONNECT, int(ms * MS), self._next(), peer=track.client))
        self.history.tracks[conn] = track

    def send(self, conn: int, ms: float, message: Packet) -> None:
        track = self.history.tracks[conn]
        track.ops.append(Op(conn, len(track.ops), SEND, int(ms * MS), self._next(), message))

    def got(self, conn: int, ms: float, message: Packet) -> int:
        track = self.history.tracks[conn]
        frame = self._next()
        track.seen.append(Seen(conn, len(track.seen), int(ms * MS), frame, message, len(track.seen)))
        return frame

    def close(self, conn: int, ms: float) -> None:
        track = self.history.tracks[conn]
        track.ops.append(Op(conn, len(track.ops), DISCONNECT, int(ms * MS), self._next()))

    def judge(self, budget: int = 2000) -> list[Finding]:
        set_due_times(self.history)
        return judge(self.history, "gearmand-1.1", budget=state_budget(budget)).findings


def broken(findings: list[Finding]) -> list[tuple[str, int]]:
    return [(f.requirement, f.frame) for f in findings if f.status == BROKEN]


def job_with_progress(status_answer: tuple[bytes, ...], handle: bytes = b"H:vm:1") -> tuple[Script, int]:
    """A client submits, a worker takes the job and reports 3/14 then 4/14, a poller asks while the 4/14 races.

    Returns the script and the frame of the poller's STATUS_RES.
    """
    s = Script()
    s.open(1, 0)
    s.open(2, 0)
    s.open(3, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB, b"f", b"", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, handle))
    s.send(2, 3, req(T.GRAB_JOB))
    s.got(2, 3.1, res(T.JOB_ASSIGN, handle, b"f", b"x"))
    s.send(2, 5, req(T.WORK_STATUS, handle, b"3", b"14"))
    s.got(1, 5.1, res(T.WORK_STATUS, handle, b"3", b"14"))
    s.send(3, 9.9, req(T.GET_STATUS, handle))  # captured before the 4/14 ...
    s.send(2, 10.0, req(T.WORK_STATUS, handle, b"4", b"14"))
    s.got(1, 10.05, res(T.WORK_STATUS, handle, b"4", b"14"))
    frame = s.got(3, 10.1, res(T.STATUS_RES, handle, *status_answer))  # ... answered after it
    s.send(2, 12, req(T.WORK_COMPLETE, handle, b"done"))
    s.got(1, 12.1, res(T.WORK_COMPLETE, handle, b"done"))
    return s, frame


def test_a_status_poll_racing_a_progress_report_may_see_either_numerator() -> None:
    for numerator in (b"3", b"4"):
        s, _frame = job_with_progress((b"1", b"1", numerator, b"14"))
        assert s.judge() == []


def test_handles_are_paired_with_the_models_never_compared_as_literals() -> None:
    s, _frame = job_with_progress((b"1", b"1", b"4", b"14"), handle=b"job-77@other-server")
    assert s.judge() == []


def test_a_count_no_order_explains_breaks_GM_STATUS_001_once_at_its_frame() -> None:
    s, frame = job_with_progress((b"1", b"1", b"9", b"14"))
    findings = s.judge()
    assert broken(findings) == [("GM-STATUS-001", frame)]
    assert "STATUS_RES" in findings[0].reason and "H:vm:1" in findings[0].reason and "H:sim" not in findings[0].reason


def test_a_search_out_of_budget_says_undecided_not_broken() -> None:
    s, frame = job_with_progress((b"1", b"0", b"4", b"14"))  # "not running": only a search can rule it out
    findings = s.judge(budget=0)
    assert [(f.status, f.requirement, f.frame) for f in findings] == [(UNDECIDED, "GM-STATUS-001", frame)]


def test_a_numerator_no_worker_sent_is_broken_without_a_search() -> None:
    # no order of the requests reports 9: the budget need not be spent to say so
    s, frame = job_with_progress((b"1", b"1", b"9", b"14"))
    assert broken(s.judge(budget=0)) == [("GM-STATUS-001", frame)]
    s, frame = job_with_progress((b"1", b"1", b"3", b"9"))
    assert broken(s.judge(budget=0)) == [("GM-STATUS-001", frame)]


def test_a_numerator_a_worker_sent_is_never_broken_for_want_of_a_search() -> None:
    for numerator in (b"3", b"4"):
        s, _frame = job_with_progress((b"1", b"1", numerator, b"14"))
        assert broken(s.judge(budget=0)) == []


def test_an_error_where_a_status_was_due_is_broken_even_past_an_undecided_divergence() -> None:
    s, undecided = job_with_progress((b"1", b"0", b"4", b"14"))  # only a search can rule "not running" out
    s.send(3, 20, req(T.GET_STATUS, b"H:vm:1"))
    refused = s.got(3, 20.1, res(T.ERROR, b"ERR", b"refused"))  # no order makes the model refuse a poll
    found = {(f.status, f.requirement, f.frame) for f in s.judge(budget=0)}
    assert found == {(UNDECIDED, "GM-STATUS-001", undecided), (BROKEN, "GM-STATUS-001", refused)}
    s, _frame = job_with_progress((b"1", b"1", b"4", b"14"))
    s.send(3, 20, req(T.GET_STATUS, b"H:vm:1"))
    s.got(3, 20.1, res(T.STATUS_RES, b"H:vm:1", b"0", b"0", b"0", b"0"))
    assert broken(s.judge(budget=0)) == []


def test_a_job_whose_last_listener_left_may_be_freed_by_a_grab_a_later_poll_shows() -> None:
    s = Script()
    for conn in (1, 2, 3, 4):
        s.open(conn, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB_BG, b"f", b"u", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(3, 3, req(T.SUBMIT_JOB, b"f", b"u", b"x"))  # coalesced in the foreground, then abandoned
    s.got(3, 3.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.close(3, 4)
    s.send(2, 5, req(T.GRAB_JOB))  # reaches the abandoned job and frees it (B-U11)
    s.got(2, 5.1, res(T.NO_JOB))
    s.send(1, 6, req(T.GET_STATUS, b"H:vm:1"))
    s.got(1, 6.1, res(T.STATUS_RES, b"H:vm:1", b"0", b"0", b"0", b"0"))  # the job is gone
    s.send(4, 7, req(T.ECHO_REQ, b"ping"))
    echo = s.got(4, 7.1, res(T.ECHO_RES, b"pong"))  # a defect elsewhere: the history is judged by partition
    assert broken(s.judge()) == [("GM-ECHO-001", echo)]


def _worker_takes(assigned: bytes) -> tuple[Script, int]:
    """A client's job is created as H:vm:1; the worker's grab is answered with ``assigned``. Returns the
    script and the JOB_CREATED's frame."""
    s = Script()
    s.open(1, 0)
    s.open(2, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB_BG, b"f", b"", b"x"))
    created = s.got(1, 2.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 3, req(T.GRAB_JOB))
    s.got(2, 3.1, res(T.JOB_ASSIGN, assigned, b"f", b"x"))
    s.send(2, 4, req(T.WORK_COMPLETE, assigned, b"done"))
    return s, created


def test_a_job_handed_out_under_a_handle_no_job_created_gave_is_broken_without_a_search() -> None:
    s, created = _worker_takes(b"H:vm:2")
    assert ("GM-SUBMIT-001", created) in broken(s.judge(budget=0))
    s, _created = _worker_takes(b"H:vm:1")
    assert s.judge(budget=0) == []


def test_a_job_handed_out_under_a_handle_no_job_created_gave_is_judged_beside_its_submission() -> None:
    s, _created = _worker_takes(b"H:vm:2")
    s.send(1, 2.5, req(T.SUBMIT_JOB_BG, b"f", b"", b"other"))  # another job: no evidence about H:vm:2
    s.got(1, 2.6, res(T.JOB_CREATED, b"H:vm:3"))
    jobs = [p for p in split(s.history) if p.kind == JOB]
    holding = [p for p in jobs if b"H:vm:2" in p.handles]
    assert len(holding) == 1 and holding[0].handles == {b"H:vm:1", b"H:vm:2"}
    assert not any(b"H:vm:3" in p.handles for p in holding)
    s, _created = _worker_takes(b"H:vm:1")
    assert all(len(p.handles) == 1 for p in split(s.history) if p.kind == JOB)


def test_a_report_taken_from_a_worker_no_assignment_gave_the_job_is_broken_without_a_search() -> None:
    s = Script()
    s.open(1, 0)
    s.open(2, 0)
    s.open(3, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB, b"f", b"", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 3, req(T.GRAB_JOB))
    s.got(2, 3.1, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))
    s.send(3, 4, req(T.WORK_DATA, b"H:vm:1", b"stolen"))  # c3 never got the job: the server must refuse it
    s.got(1, 4.1, res(T.WORK_DATA, b"H:vm:1", b"stolen"))
    s.send(2, 5, req(T.WORK_COMPLETE, b"H:vm:1", b"done"))
    s.got(1, 5.1, res(T.WORK_COMPLETE, b"H:vm:1", b"done"))
    # the forward no worker holding the job sent
    assert broken(s.judge(budget=0)) == [("GM-WORK-003", 10)]


def test_lost_bytes_make_the_affected_job_inconclusive() -> None:
    s, frame = job_with_progress((b"1", b"1", b"9", b"14"))
    s.history.tracks[3].seen_lost_at = 0
    findings = s.judge()
    assert [(f.status, f.frame) for f in findings] == [(INCONCLUSIVE, frame)]


def test_a_job_from_before_the_capture_is_unknown_not_broken() -> None:
    s = Script()
    s.open(1, 0, midstream=True)
    s.send(1, 1, req(T.GET_STATUS, b"H:vm:9"))
    s.got(1, 1.1, res(T.STATUS_RES, b"H:vm:9", b"1", b"1", b"2", b"5"))  # the model never saw H:vm:9 made
    findings = s.judge()
    assert [f.status for f in findings] == [UNKNOWN]


def test_a_connection_joined_mid_stream_that_the_model_explains_leaves_other_findings_broken() -> None:
    s, frame = job_with_progress((b"1", b"1", b"9", b"14"))
    s.open(4, 0.5, midstream=True)  # its unseen past makes no difference the capture shows
    s.send(4, 0.6, req(T.CAN_DO, b"f"))
    s.send(4, 0.7, req(T.ECHO_REQ, b"x"))
    s.got(4, 0.8, res(T.ECHO_RES, b"x"))
    assert broken(s.judge()) == [("GM-STATUS-001", frame)]
    s.send(4, 20, req(T.GRAB_JOB))
    s.got(4, 20.1, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))  # a job the model's c4 cannot hold: unseen past
    assert broken(s.judge()) == []


def test_an_error_where_job_created_was_due_is_one_GM_SUBMIT_001_not_one_per_later_packet() -> None:
    s = Script()
    s.open(1, 0)
    s.open(2, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB, b"f", b"", b"x"))
    frame = s.got(1, 2.1, res(T.ERROR, b"ERR", b"no"))
    s.send(2, 3, req(T.GRAB_JOB))
    s.got(2, 3.1, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))
    s.send(2, 4, req(T.WORK_COMPLETE, b"H:vm:1", b"r"))
    s.got(1, 4.1, res(T.WORK_COMPLETE, b"H:vm:1", b"r"))
    assert broken(s.judge()) == [("GM-SUBMIT-001", frame)]
    # without an admin 'maxqueue' no state of the queue makes the model refuse a submission: no search needed
    assert ("GM-SUBMIT-001", frame) in broken(s.judge(budget=0))


def coalesced(second_handle: bytes, unique: bytes = b"u") -> tuple[Script, int]:
    s = Script()
    s.open(1, 0)
    s.open(2, 0)
    s.send(1, 1, req(T.SUBMIT_JOB_BG, b"f", unique, b"x"))
    s.got(1, 1.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 2, req(T.SUBMIT_JOB_BG, b"f", unique, b"x"))
    frame = s.got(2, 2.1, res(T.JOB_CREATED, second_handle))
    return s, frame


def test_a_submission_coalesced_as_the_profile_requires_is_met() -> None:
    assert coalesced(b"H:vm:1")[0].judge() == []


def test_a_new_job_where_the_profile_coalesces_breaks_GM_COAL_001() -> None:
    s, frame = coalesced(b"H:vm:2")
    assert broken(s.judge()) == [("GM-COAL-001", frame)]


def test_a_new_job_beside_a_job_live_in_every_order_breaks_GM_COAL_001_without_a_search() -> None:
    # the first job was created before the second submission was sent, and nothing that ends or drops it
    # was captured before the second JOB_CREATED: every order coalesces, no search needed to say so
    s, frame = coalesced(b"H:vm:2")
    assert broken(s.judge(budget=0)) == [("GM-COAL-001", frame)]
    assert coalesced(b"H:vm:1")[0].judge(budget=0) == []


def test_a_new_job_after_the_first_may_have_ended_is_not_broken() -> None:
    for end in ("complete", "listener left", "worker left"):
        s = Script()
        for conn in (1, 2, 3):
            s.open(conn, 0)
        s.send(3, 0.5, req(T.CAN_DO, b"f"))
        s.send(1, 1, req(T.SUBMIT_JOB, b"f", b"u", b"x"))
        s.got(1, 1.1, res(T.JOB_CREATED, b"H:vm:1"))
        s.send(3, 1.2, req(T.GRAB_JOB))
        s.got(3, 1.3, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))
        s.send(2, 2, req(T.SUBMIT_JOB, b"f", b"u", b"x"))
        if end == "complete":
            s.send(3, 2.05, req(T.WORK_COMPLETE, b"H:vm:1", b"r"))  # raced the second submission
            s.got(1, 2.07, res(T.WORK_COMPLETE, b"H:vm:1", b"r"))
        else:
            s.close(1 if end == "listener left" else 3, 2.05)
        s.got(2, 2.1, res(T.JOB_CREATED, b"H:vm:2"))
        assert broken(s.judge(budget=0)) == [], end


def test_a_job_whose_submission_the_capture_missed_decides_no_coalescing() -> None:
    # the first JOB_CREATED answers a submission sent before the capture began: its unique is unknown
    s = Script()
    s.open(1, 0, midstream=True)
    s.open(2, 0)
    s.got(1, 1.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 2, req(T.SUBMIT_JOB_BG, b"f", b"u", b"x"))
    s.got(2, 2.1, res(T.JOB_CREATED, b"H:vm:2"))
    for budget in (0, 2000):
        assert broken(s.judge(budget=budget)) == []


def test_coalescing_an_empty_unique_breaks_GM_COAL_003() -> None:
    s, frame = coalesced(b"H:vm:1", unique=b"")
    assert broken(s.judge()) == [("GM-COAL-003", frame)]
    # no profile coalesces an empty unique, whatever the order: no search needed to say so
    assert broken(s.judge(budget=0)) == [("GM-COAL-003", frame)]
    assert coalesced(b"H:vm:2", unique=b"")[0].judge(budget=0) == []


def test_a_report_forwarded_from_a_worker_no_assign_gave_the_job_breaks_GM_WORKER_007() -> None:
    # the JOB_ASSIGN of H:1 is missing, yet its worker reports and the server forwards: the grab's answer was
    # lost, and the forward no order explains is its consequence (it named GM-WORK-003)
    s = Script()
    for conn in (1, 2, 3):
        s.open(conn, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB, b"f", b"u1", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, b"H:1"))
    s.send(3, 2.5, req(T.SUBMIT_JOB, b"f", b"u2", b"y"))
    s.got(3, 2.6, res(T.JOB_CREATED, b"H:2"))
    s.send(2, 3, req(T.GRAB_JOB_UNIQ))
    s.send(2, 4, req(T.WORK_STATUS, b"H:1", b"1", b"2"))
    report = s.frame
    s.got(1, 4.1, res(T.WORK_STATUS, b"H:1", b"1", b"2"))
    s.send(2, 5, req(T.WORK_COMPLETE, b"H:1", b"r"))
    s.got(1, 5.1, res(T.WORK_COMPLETE, b"H:1", b"r"))
    s.send(2, 6, req(T.GRAB_JOB_UNIQ))
    s.got(2, 6.1, res(T.JOB_ASSIGN_UNIQ, b"H:2", b"f", b"u2", b"y"))
    s.send(2, 7, req(T.WORK_COMPLETE, b"H:2", b"r"))
    s.got(3, 7.1, res(T.WORK_COMPLETE, b"H:2", b"r"))
    assert broken(s.judge()) == [("GM-WORKER-007", report)]


def job_found_running(worker_midstream: bool = False) -> tuple[Script, int]:
    """A background job, a grab the server never answers, a poll finding the job running; and the grab's frame."""
    s = Script()
    s.open(1, 0)
    s.open(2, 0, midstream=worker_midstream)
    s.open(3, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB_BG, b"f", b"", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, b"H:1"))
    s.send(2, 3, req(T.GRAB_JOB))
    grab = s.frame
    s.send(3, 4, req(T.GET_STATUS, b"H:1"))
    s.got(3, 4.1, res(T.STATUS_RES, b"H:1", b"1", b"1", b"0", b"0"))
    s.close(2, 30)
    return s, grab


def test_a_job_found_running_that_no_assign_handed_out_breaks_GM_WORKER_007_at_the_unanswered_grab() -> None:
    # the server says the job runs, so a grab got it; the one grab it never answered is where the JOB_ASSIGN
    # went missing (the poll's difference named GM-STATUS-001)
    s, grab = job_found_running()
    assert broken(s.judge()) == [("GM-WORKER-007", grab)]


def test_a_grab_on_a_connection_joined_mid_stream_is_not_named_for_a_job_found_running() -> None:
    # its grabs' answers may have been paired with requests from before the capture: the poll keeps its rule
    s, _grab = job_found_running(worker_midstream=True)
    assert [f.requirement for f in s.judge()] == ["GM-STATUS-001"]


def test_a_missing_work_complete_forward_breaks_GM_WORK_004() -> None:
    s = Script()
    s.open(1, 0)
    s.open(2, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB, b"f", b"", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 3, req(T.GRAB_JOB))
    s.got(2, 3.1, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))
    s.send(2, 4, req(T.WORK_COMPLETE, b"H:vm:1", b"r"))  # never forwarded to c1
    s.send(2, 5, req(T.GRAB_JOB))
    s.got(2, 5.1, res(T.NO_JOB))  # so the server had read the WORK_COMPLETE by 5.1 ms
    s.close(1, 20)
    assert [rule for rule, _frame in broken(s.judge())] == ["GM-WORK-004"]
    # no order spares the forward (the client left long after the report was due): no search needed to say so
    assert [rule for rule, _frame in broken(s.judge(budget=0))] == ["GM-WORK-004"]


def test_a_forward_the_client_may_have_left_before_is_not_required() -> None:
    s = Script()
    s.open(1, 0)
    s.open(2, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB, b"f", b"", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 3, req(T.GRAB_JOB))
    s.got(2, 3.1, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))
    s.close(1, 3.9)  # the client leaves before the result is sent
    s.send(2, 4, req(T.WORK_COMPLETE, b"H:vm:1", b"r"))
    assert s.judge() == []
    assert s.judge(budget=0) == []


def test_a_lost_job_assign_is_reported_at_the_workers_report_not_at_a_poll_that_found_the_job_running() -> None:
    # the JOB_ASSIGN of H:vm:1 to c2 was lost: a poll found the job running before c2's first report on it showed
    # that the server had handed it over; the poll follows from the lost assignment and is not a defect of its own
    s = Script()
    for conn in (1, 2, 3):
        s.open(conn, 0)
    s.send(2, 0.5, req(T.CAN_DO, b"f"))
    s.send(1, 1, req(T.SUBMIT_JOB, b"f", b"", b"x"))
    s.got(1, 1.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 2, req(T.GRAB_JOB))  # its JOB_ASSIGN is missing
    s.send(3, 3, req(T.GET_STATUS, b"H:vm:1"))
    poll = s.got(3, 3.1, res(T.STATUS_RES, b"H:vm:1", b"1", b"1", b"0", b"0"))
    s.send(2, 4, req(T.GRAB_JOB))
    s.got(2, 4.1, res(T.NO_JOB))
    s.send(2, 5, req(T.WORK_STATUS, b"H:vm:1", b"1", b"2"))
    report = s.frame
    s.got(1, 5.1, res(T.WORK_STATUS, b"H:vm:1", b"1", b"2"))
    s.send(2, 6, req(T.WORK_COMPLETE, b"H:vm:1", b"done"))
    s.got(1, 6.1, res(T.WORK_COMPLETE, b"H:vm:1", b"done"))
    s.send(2, 7, req(T.ECHO_REQ, b"e"))
    s.got(2, 7.1, res(T.ECHO_RES, b"e"))
    s.send(3, 30, req(T.GET_STATUS, b"H:vm:1"))
    s.got(3, 30.1, res(T.STATUS_RES, b"H:vm:1", b"0", b"0", b"0", b"0"))
    assert broken(s.judge()) == [("GM-WORKER-007", report)]
    assert poll < report


def test_a_job_assign_sent_twice_for_one_grab_is_broken_without_a_search() -> None:
    s = Script()
    s.open(1, 0)
    s.open(2, 0)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB_BG, b"f", b"", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 3, req(T.GRAB_JOB))
    s.got(2, 3.1, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))
    again = s.got(2, 3.2, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))  # one grab, two answers
    s.send(2, 4, req(T.WORK_COMPLETE, b"H:vm:1", b"r"))
    s.send(2, 5, req(T.ECHO_REQ, b"e"))
    s.got(2, 5.1, res(T.ECHO_RES, b"e"))
    assert ("GM-WORKER-008", again) in broken(s.judge(budget=0))
    assert ("GM-WORKER-008", again) in broken(s.judge())


def test_an_error_to_a_grab_is_broken_beside_a_worker_joined_mid_stream() -> None:
    # what c2 did before the capture could explain much, but never a refused grab: that depends on the request alone
    s = Script()
    s.open(1, 0)
    s.open(2, 0, midstream=True)
    s.send(2, 1, req(T.CAN_DO, b"f"))
    s.send(1, 2, req(T.SUBMIT_JOB_BG, b"f", b"", b"x"))
    s.got(1, 2.1, res(T.JOB_CREATED, b"H:vm:1"))
    s.send(2, 3, req(T.GRAB_JOB))
    s.got(2, 3.1, res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x"))
    s.send(2, 4, req(T.WORK_COMPLETE, b"H:vm:1", b"r"))
    s.send(2, 5, req(T.GRAB_JOB))
    refused = s.got(2, 5.1, res(T.ERROR, b"ERR", b"no"))
    s.send(2, 6, req(T.GRAB_JOB))
    s.got(2, 6.1, res(T.NO_JOB))
    assert [(f.status, f.requirement, f.frame) for f in s.judge()] == [
        (BROKEN, "GM-WORKER-007", refused)
    ]  # NO_JOB was due
