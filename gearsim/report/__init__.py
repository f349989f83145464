"""Turning results into what people read (PURE: values in, text out).

``text`` (the terminal report, JSON and JUnit), ``html`` (one self-contained
page with sequence charts), ``matrix`` (the compatibility matrix),
``baseline`` (committed expected verdicts and the comparison with them) and
``coverage`` (which cases check each requirement) and ``repro`` (the
commands that reproduce a failure).

``from gearsim.report import text_report`` keeps working as it did when this
was one module; ``exit_code`` is ``gearsim.exit_code`` (gearsim.cli.common).
"""

from gearsim.report.text import json_report, junit_report, text_report

__all__ = ["json_report", "junit_report", "text_report"]
