"""The public Python API: ``import gearsim`` gives exactly the documented names, and the examples run."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gearsim
import gearsim.api

README = Path(__file__).resolve().parents[2] / "README.md"

#: the promised surface; change it only together with gearsim/api.py's docstring and the README
PUBLIC = {
    "DEFAULT_PROFILE",
    "PROFILES",
    "AdminLine",
    "Case",
    "CaseResult",
    "DecodeError",
    "Decoder",
    "GearsimError",
    "HarnessError",
    "LinkConfig",
    "Magic",
    "Message",
    "ModelPeerFactory",
    "Packet",
    "PacketType",
    "PeerFactory",
    "ReportRun",
    "Requirement",
    "Selection",
    "Server",
    "ServerOptions",
    "ServerPeer",
    "Shard",
    "Simulator",
    "TcpPeerFactory",
    "Trace",
    "TraceRecord",
    "VectorError",
    "VectorFile",
    "Verdict",
    "__version__",
    "decode_all",
    "encode",
    "encode_admin",
    "exit_code",
    "json_report",
    "junit_report",
    "load_requirements",
    "parse_shard",
    "parse_vector_text",
    "read_vector_file",
    "render_html",
    "run_case",
    "run_file",
    "select",
    "text_report",
    "vector_root",
}


def test_the_surface_is_exactly_the_promised_one() -> None:
    assert set(gearsim.api.__all__) == PUBLIC
    assert set(gearsim.__all__) == PUBLIC
    assert len(gearsim.__all__) == len(PUBLIC)


def test_the_package_re_exports_the_api_objects() -> None:
    for name in PUBLIC:
        assert getattr(gearsim, name) is getattr(gearsim.api, name), name


def test_public_names_are_documented() -> None:
    for name in PUBLIC:
        obj = getattr(gearsim, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"gearsim.{name} has no docstring"
        assert name in (gearsim.api.__doc__ or "") or name == "__version__", f"gearsim.api's docstring omits {name}"


def test_version_is_the_installed_one() -> None:
    assert re.match(r"^\d+\.\d+", gearsim.__version__)


def test_submodules_stay_reachable_by_name() -> None:
    # no exported name shadows a submodule (``import gearsim.x as m`` must give the module)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gearsim, pkgutil, importlib\n"
            "for m in pkgutil.iter_modules(gearsim.__path__):\n"
            "    assert m.name not in gearsim.__all__, m.name\n"
            "import gearsim.report.html as h, gearsim.report.text as r\n"
            "assert h.__name__ == 'gearsim.report.html' and r.__name__ == 'gearsim.report.text'\n"
            "print('ok')",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.stdout.strip() == "ok", out.stderr


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_api_docstring_example_replays_a_vector(capsys: pytest.CaptureFixture[str]) -> None:
    doc = gearsim.api.__doc__ or ""
    after = doc.split("Replaying one vector case from Python::\n", 1)[1].splitlines()
    code_lines: list[str] = []
    for line in after:
        if line.strip() and not line.startswith("    "):
            break
        code_lines.append(line[4:])
    code = "\n".join(code_lines)
    assert "gearsim.run_case" in code
    namespace: dict[str, object] = {}
    exec(compile(code, "gearsim.api example", "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, gearsim.CaseResult)
    assert result.verdict is gearsim.Verdict.PASS
    assert result.records
    assert 'c1>server SUBMIT_JOB_BG "st-queued"' in capsys.readouterr().out


def test_the_readme_example_replays_a_vector() -> None:
    blocks = [b for b in _python_blocks(README.read_text(encoding="utf-8")) if "import gearsim" in b]
    assert blocks, "README.md has no ```python example that imports gearsim"
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, "README.md example", "exec"), namespace)
        results = [v for v in namespace.values() if isinstance(v, gearsim.CaseResult)]
        assert results, "the README example should leave its CaseResult in a variable"
        assert all(r.verdict in (gearsim.Verdict.PASS, gearsim.Verdict.ACCEPTABLE) for r in results)
