"""Turning results into what people read (PURE: values in, text out).

``text`` (the terminal report, JSON and JUnit), ``html`` (one self-contained
page with sequence charts), ``matrix`` (the compatibility matrix),
``baseline`` (committed expected verdicts and the comparison with them) and
``coverage`` (which cases check each requirement).

``from gearsim.report import text_report`` keeps working as it did when this was one module.
"""

from gearsim.report.text import exit_code, json_report, junit_report, text_report

__all__ = ["exit_code", "json_report", "junit_report", "text_report"]
