"""Hostile vector and scenario files: each is refused in one line naming the file and where, fast.

Alias bombs, deep nesting, cycles, oversized files and absurd step times
once cost minutes and gigabytes or ended in a traceback (issue 16, items 5
and 10). The tests bound the work a regression would multiply (events read,
Python calls, characters of error messages), not the time it takes, so a
busy machine cannot fail them; speed is tools/bench's business.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from work import python_calls, schema_messages

from gearsim.errors import VectorError
from gearsim.files import load_schema_text, read_input_text, read_vector_file
from gearsim.safeyaml import MAX_ALIAS_EXPANSION, MAX_DEPTH, MAX_INT_CHARS, YamlInputError, load_yaml
from gearsim.vectors.parse import dump_vector_file, parse_vector_text
from gearsim.vectors.text import format_bytes, format_hex

HEAD = "schema: gearsim-vectors/1\narea: server\ntitle: t\nnotes: {}\n"
CASE = """\
cases:
- id: c
  comment: c
  requirements: [GM-SUBMIT-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
"""


def alias_bomb(levels: int) -> str:
    """The "billion laughs": each level is nine aliases of the one before (9**levels strings)."""
    items = ['&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    items += [f"&l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return HEAD + "header: [" + ", ".join(items) + "]\n" + CASE


def vector_error(text: str) -> str:
    with pytest.raises(VectorError) as info:
        parse_vector_text(text, "evil.yaml", load_schema_text())
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_nine_level_alias_bomb_is_refused_at_once() -> None:
    text = alias_bomb(9)
    assert len(text) < 800
    calls, outcome = python_calls(lambda: parse_vector_text(text, "evil.yaml", load_schema_text()))
    assert isinstance(outcome, VectorError)
    assert calls < 5_000, calls  # refused on the event stream; it was 70 s and 1.5 GB of repr
    assert str(outcome).startswith("evil.yaml: YAML line 5: aliases expand the document by more than 1,000,000")


def test_aliases_that_expand_a_little_are_fine() -> None:
    data = load_yaml("a: &x [1, 2, 3]\nb: *x\nc: *x\n")
    assert data == {"a": [1, 2, 3], "b": [1, 2, 3], "c": [1, 2, 3]}


def test_the_alias_budget_counts_every_use_of_a_big_scalar() -> None:
    big = "x" * 100_000
    forty = "a: &big " + big + "\nb: [" + ", ".join(["*big"] * 40) + "]\n"
    with pytest.raises(YamlInputError, match="aliases expand the document"):
        load_yaml(forty)
    assert len(load_yaml(forty, max_alias_expansion=41 * 100_001)["b"]) == 40
    assert 40 * len(big) > MAX_ALIAS_EXPANSION


def test_an_alias_inside_its_own_anchor_is_refused_as_a_cycle() -> None:
    with pytest.raises(YamlInputError, match=r"YAML line 1: alias \*a refers to a collection that contains it"):
        load_yaml("a: &a [1, *a]\n")


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "])
def test_nesting_deeper_than_the_limit_is_refused_without_recursion(opener: str) -> None:
    if opener == "- ":
        text = "".join("  " * i + "-\n" for i in range(5000))
    else:
        text = opener * 5000 + "1" + ("]" if opener == "[" else "}") * 5000
    with pytest.raises(YamlInputError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_yaml(text)


def test_nesting_within_the_limit_loads() -> None:
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def test_deep_nesting_in_a_vector_file_is_one_line_naming_the_file() -> None:
    message = vector_error(HEAD + "header: " + "[" * 600 + "]" * 600 + "\n" + CASE)
    assert message == "evil.yaml: YAML line 5: nested deeper than 64 levels"


def test_python_tags_stay_refused() -> None:
    message = vector_error(HEAD + "header: !!python/object/apply:os.system [echo hi]\n" + CASE)
    assert message.startswith("evil.yaml: not valid YAML line 5:")


def test_a_text_over_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(YamlInputError, match="101 characters, more than the limit of 100"):
        load_yaml("x" * 101, max_text=100)


def test_a_file_over_the_size_limit_is_one_line_and_reads_only_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * 5000)
    with pytest.raises(VectorError, match=r"big.yaml: larger than the limit of 4,096 bytes for an input file"):
        read_input_text(path, "big.yaml", limit=4096)
    assert read_input_text(path, "big.yaml", limit=5000) == "#" * 5000


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"schema: caf\xe9\n")
    with pytest.raises(VectorError, match=r"latin.yaml: not UTF-8 text \(byte offset 11"):
        read_vector_file(path, "latin.yaml")


def test_a_schema_error_on_huge_data_is_short_and_built_from_few_messages() -> None:
    # 0.5 MB of header in a list of lists: the schema error must not repr it all into the message
    header = "header: [" + ", ".join(["[" + ", ".join(["abcdefgh"] * 1000) + "]"] * 50) + "]\n"
    text = HEAD + header + CASE
    with schema_messages() as built:
        message = vector_error(text)
    assert message.startswith("evil.yaml: schema: header/0:") and len(message) < 400
    # each of the 50 bad lists is repr'd once; examining errors without end (the alias-bomb
    # regression) would build many times the file's size
    errors, chars = built
    assert errors <= 200 and chars < 2 * len(text), built


@pytest.mark.parametrize(("step", "key"), [("{advance: 1000000000000000000000}", "advance"),
                                           ("{expect_silence: c1, ms: 90000000000}", "ms")])  # fmt: skip
def test_absurd_step_times_are_refused_with_the_step(step: str, key: str) -> None:
    message = vector_error(HEAD + "header: [h]\n" + CASE + f"  - {step}\n")
    assert message.startswith(f"evil.yaml::c step 2: {key}: ") and "more than the limit of 86,400,000 ms" in message


def big_vector(megabytes: int, steps: int) -> str:
    per = megabytes * 1024 * 1024 // steps
    lines = [HEAD + "header: [h]\n" + CASE.rstrip("\n")]
    for i in range(steps):
        arg = "y" * per if i % 2 else "{hex: " + format_hex(bytes(range(256)) * (per // 512)) + "}"
        lines.append(f"  - {{send: c1, packet: {{type: SUBMIT_JOB_BG, args: [f, '', {arg}]}}}}")
    return "\n".join(lines) + "\n"


def test_vector_files_parse_and_dump_with_python_work_per_step_not_per_byte() -> None:
    """1 MB and 4 MB of argument text in 50 steps cost the same Python calls; 200 steps cost 4 times 50.

    Bytes are scanned and written by libyaml and C string functions only
    (linear); the pure-Python emitter and per-byte loops that cost ~4 s per MB
    made calls per byte.
    """

    def calls(text: str) -> int:
        count, outcome = python_calls(lambda: dump_vector_file(parse_vector_text(text, "big.yaml", schema).raw))
        assert isinstance(outcome, str), outcome
        return count

    schema = load_schema_text()
    calls(big_vector(1, 10))  # caches warmed
    small, large, many = calls(big_vector(1, 50)), calls(big_vector(4, 50)), calls(big_vector(4, 200))
    assert large < small * 1.1, (small, large)
    assert many < large * 4.4, (large, many)
    assert large < len(big_vector(4, 50)) // 10  # far fewer calls than bytes


def test_the_fast_emitter_writes_what_pyyaml_s_pure_emitter_writes() -> None:
    """The canonical text must not depend on whether libyaml is installed."""
    from gearsim.vectors import text as vtext

    class Pure(yaml.SafeDumper):
        pass

    for cls, fn in vtext._Dumper.yaml_representers.items():
        Pure.add_representer(cls, fn)
    samples = [
        "plain", "with space", "tab\there", "line\nbreak", "cr\rhere", "'quoted'", '"dq"', "- dash", ": colon",
        "# hash", "yes", "no", "null", "~", "1", "0x1f", "1e3", "", " lead", "trail ", "a" * 20_000,
        "word " * 4000, "\u00e9t\u00e9", "{x}", "[y]", "*alias", "&anchor", "!tag", "%pct", "@at", "`tick",
    ]  # fmt: skip
    data = {"cases": [{"id": s, "args": [s, format_bytes(s.encode("utf-8", "replace"))]} for s in samples]}
    fast = yaml.dump(data, Dumper=vtext._Dumper, sort_keys=False, allow_unicode=True, width=10_000, indent=2)
    pure = yaml.dump(data, Dumper=Pure, sort_keys=False, allow_unicode=True, width=10_000, indent=2)
    assert fast == pure


def test_lint_of_an_alias_bomb_is_one_finding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(9), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "gearsim", "lint", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1 and done.stderr == ""
    assert done.stdout.splitlines()[0].startswith(f"{path}: YAML line 5: aliases expand the document")


def test_run_of_a_broken_vector_is_one_line_and_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "header: " + "[" * 2000 + "]" * 2000 + "\n" + CASE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "gearsim", "run", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3
    assert done.stderr.splitlines() == [f"gearsim run: {path}: YAML line 5: nested deeper than 64 levels"]


def test_a_document_of_too_many_nodes_is_refused_before_any_is_built() -> None:
    with pytest.raises(YamlInputError, match=r"YAML line 1: more than 1,000 nodes"):
        load_yaml("[" + "1," * 2000 + "]", max_nodes=1000)
    assert len(load_yaml("[" + "1," * 900 + "]", max_nodes=1000)) == 900


def test_an_integer_too_long_to_convert_is_refused_with_its_line() -> None:
    long = "9" * 5000  # Python refuses to convert more than 4,300 digits: this was a traceback
    message = vector_error(HEAD + "header: [h]\n" + CASE + f"  - {{expect_silence: c1, ms: {long}}}\n")
    assert message == f"evil.yaml: not valid YAML line 14: an integer of 5,000 characters, more than {MAX_INT_CHARS}"
    with pytest.raises(YamlInputError, match="an integer of 1,002 characters"):
        load_yaml("n: 0x" + "f" * 1000)
    assert load_yaml("n: " + "9" * MAX_INT_CHARS) == {"n": int("9" * MAX_INT_CHARS)}


def test_a_key_given_twice_is_refused_not_silently_dropped() -> None:
    message = vector_error(HEAD + "header: [h]\nheader: [i]\n" + CASE)
    assert message == "evil.yaml: not valid YAML line 6: the key 'header' is given twice in one mapping"
    with pytest.raises(YamlInputError, match="line 2: the key 'steps' is given twice"):
        load_yaml("steps: [a]\nsteps: [b]\n")
    assert load_yaml("base: &b {x: 1}\nuse: {<<: *b, x: 2}\n")["use"] == {"x": 2}  # a merge may override
