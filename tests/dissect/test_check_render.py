"""The capture check's report names each broken rule with its level and sentence."""

from __future__ import annotations

from gearsim.dissect.check import ConnReport, Finding, render_check
from gearsim.protocol.requirements import Requirement


def test_the_report_ends_with_the_sentence_of_every_broken_rule() -> None:
    report = ConnReport(1, "127.0.0.1:1 > 127.0.0.1:4730")
    report.broken.append(Finding("GM-FIELD-005", 27, "STATUS_RES: numerator is empty, not 0"))
    report.broken.append(Finding("GM-FIELD-005", 53, "STATUS_RES: denominator is empty, not 0"))
    rules = {"GM-FIELD-005": Requirement("GM-FIELD-005", "SHOULD", "fields", "Report 0, not empty.")}
    text = render_check([report], rules)
    assert "  broke GM-FIELD-005 at frame 27: STATUS_RES: numerator is empty, not 0" in text
    assert text.count("GM-FIELD-005 (SHOULD): Report 0, not empty.") == 1
    assert text.endswith("1 connections, 2 broken requirements\n")


def test_a_clean_report_lists_no_rules() -> None:
    report = ConnReport(1, "127.0.0.1:1 > 127.0.0.1:4730")
    report.met["GM-ECHO-001"] += 1
    assert "rules broken" not in render_check([report], {})
