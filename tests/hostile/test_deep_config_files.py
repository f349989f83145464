"""A baseline (JSON) or a server description (TOML) nested too deep, of the wrong shape, or with an endless integer.

Both were exit 4, a gearsim bug with its traceback: json.loads and tomllib
recurse per level (RecursionError), and an integer of more than 4300 digits is
a plain ValueError (Python's int conversion limit), not the decode error
that was caught. A baseline verdict that was a list or an object was a
TypeError (exit 4) too, and a case listed twice silently kept the last.
Each is now the file's error, one line, exit 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.io.serverdesc import DescriptionError, parse_description
from gearsim.report.baseline import BaselineError, known_failures, parse_baseline

DEEP_JSON = '{"schema": ' + "[" * 5000 + "]" * 5000 + "}"
LONG_INT_JSON = '{"schema": ' + "1" * 5000 + "}"
DEEP_TOML = "command = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_INLINE_TOML = "command = " + "{a=" * 5000 + "1" + "}" * 5000 + "\n"
LONG_INT_TOML = "start_timeout = " + "1" * 5000 + "\n"


@pytest.mark.parametrize(
    ("text", "words"), [(DEEP_JSON, "nested too deep"), (LONG_INT_JSON, "not JSON: Exceeds")], ids=["deep", "long-int"]
)
def test_a_baseline_that_json_cannot_hold_is_a_baseline_error(text: str, words: str) -> None:
    with pytest.raises(BaselineError, match=f"^b.json: .*{words}"):
        parse_baseline(text, "b.json")
    with pytest.raises(BaselineError, match=f"^b.json: .*{words}"):
        known_failures(text, "b.json")


@pytest.mark.parametrize(
    ("text", "words"),
    [(DEEP_TOML, "nested too deep"), (DEEP_INLINE_TOML, "nested too deep"), (LONG_INT_TOML, "not valid TOML: Exceeds")],
    ids=["deep-array", "deep-inline-table", "long-int"],
)
def test_a_server_description_that_toml_cannot_hold_is_a_description_error(text: str, words: str) -> None:
    with pytest.raises(DescriptionError, match=f"^d.toml: .*{words}"):
        parse_description(text, "d.toml")


def test_run_refuses_one_in_one_line_before_any_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.toml"
    path.write_text(DEEP_TOML, encoding="utf-8")
    code = main(["run", "codec/framing.yaml", "--server-description", str(path)])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert out == ""
    assert err == f"gearsim run: {path}: not a server description: arrays or tables nested too deep to read\n"


@pytest.mark.parametrize(
    ("cases", "words"),
    [
        ('{"a::b": {"verdict": []}}', "case 'a::b': verdict [] is not one of"),  # was a TypeError: unhashable
        ('{"a::b": {"verdict": {}}}', "case 'a::b': verdict {} is not one of"),
        ('{"a::b": {"verdict": "fail"}, "a::b": {"verdict": "pass"}}', "key 'a::b' given twice in one object"),
    ],
    ids=["list-verdict", "object-verdict", "case-twice"],
)
def test_a_baseline_case_of_the_wrong_shape_is_a_baseline_error(cases: str, words: str) -> None:
    text = '{"schema": "gearsim-baseline/1", "cases": ' + cases + "}"
    with pytest.raises(BaselineError) as raised:
        parse_baseline(text, "b.json")
    assert str(raised.value).startswith(f"b.json: {words}"), raised.value
