"""What the fuzzer's normaliser leaves free when it compares the model with a real server."""

from __future__ import annotations

from gearsim.fuzz.normalise import HandleBook, normalise
from gearsim.protocol.packets import Magic, Packet, PacketType


def error(word: bytes, text: bytes) -> Packet:
    return Packet(Magic.RES, PacketType.ERROR, (word, text))


def view(*packets: Packet, labels: bool) -> object:
    return normalise(packets, book=HandleBook(), namespace=b"ns-", error_labels=labels)


def test_error_code_words_and_texts_are_labels_under_spec() -> None:
    model = error(b"JOB_NOT_FOUND", b"Job given in work result not found")
    server = error(b"INVALID_COMMAND", b"job not assigned to this worker")
    assert view(model, labels=True) == view(server, labels=True)  # GM-ERROR-003
    assert view(model, labels=False) != view(server, labels=False)  # a named profile pins its words


def test_an_error_is_still_not_another_reply_under_spec() -> None:
    no_job = Packet(Magic.RES, PacketType.NO_JOB, ())
    assert view(error(b"X", b"y"), labels=True) != view(no_job, labels=True)
    assert view(error(b"X", b"y"), labels=True) != view(Packet(Magic.RES, PacketType.ERROR, (b"X",)), labels=True)
