"""The command line through a subprocess: exit codes, messages, run folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "instances" / "quickstart" / "instance.yaml"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=600)


def variant(tmp_path: Path, change) -> Path:
    """A copy of quickstart (with its series) changed by ``change(dict)``."""
    data = yaml.safe_load(QUICKSTART.read_text())
    change(data)
    (tmp_path / "series.csv").write_bytes((QUICKSTART.parent / "series.csv").read_bytes())
    path = tmp_path / "instance.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_solve_writes_a_run_folder_and_exits_0(tmp_path):
    out = tmp_path / "run"
    proc = run("solve", str(QUICKSTART), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "optimal"
    assert "NPV" in proc.stdout
    assert {p.name for p in out.iterdir()} >= {"summary.json", "capex.csv", "cashflows.csv",
                                               "dispatch.parquet", "solver.log", "instance.yaml"}
    # no staging folder is left beside the run
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_validate_ok_exits_0():
    proc = run("validate", str(QUICKSTART))
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


def test_invalid_instance_exits_2_naming_file_key_and_value(tmp_path):
    def typo(d):
        d["sites"][0]["grid"]["import_limit_mw"] = -5
        d["sites"][0]["aux_lod_mw"] = 1  # typo: unknown key

    path = variant(tmp_path, typo)
    for cmd in (["validate", str(path)], ["solve", str(path), "--out", str(tmp_path / "r")]):
        proc = run(*cmd)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert "instance.yaml" in proc.stderr
        assert "sites[0].grid.import_limit_mw" in proc.stderr and "-5" in proc.stderr
        assert "sites[0].aux_lod_mw" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_a_failed_solve_leaves_the_previous_run_in_place(tmp_path):
    out = tmp_path / "run"
    assert run("solve", str(QUICKSTART), "--out", str(out)).returncode == 0
    before = (out / "summary.json").read_text()
    (tmp_path / "bad").mkdir()
    bad = variant(tmp_path / "bad", lambda d: d["horizon"].update(periods=0))
    proc = run("solve", str(bad), "--out", str(out))
    assert proc.returncode == 2
    assert (out / "summary.json").read_text() == before


def test_infeasible_instance_exits_3(tmp_path):
    """A mandatory 20 MW lease in a 3 MW AI hall cannot be served (ai_hall)."""
    def lease(d):
        d["leases"] = [{"id": "too-big", "site": "midland", "it_mw": 20, "cooling": "air",
                        "price_usd_per_kw_month": 100, "start_period": 0, "end_period": 1}]

    proc = run("solve", str(variant(tmp_path, lease)), "--out", str(tmp_path / "run"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "infeasible" in proc.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "infeasible"


def test_time_limit_without_solution_exits_4(tmp_path):
    """With no time at all HiGHS stops before any incumbent: exit 4, status time_limit."""
    proc = run("solve", str(ROOT / "instances" / "permian-1y" / "instance.yaml"), "--out",
               str(tmp_path / "run"), "--time-limit", "0")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "time_limit" and summary["npv_usd"] is None


def test_schema_prints_a_json_schema():
    proc = run("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert "sites" in schema["properties"] and "horizon" in schema["properties"]


@pytest.mark.parametrize("args", [["solve", "missing.yaml"], ["validate", "missing.yaml"]])
def test_missing_file_exits_2_without_traceback(args, tmp_path):
    proc = run(*args, "--out", str(tmp_path / "r")) if args[0] == "solve" else run(*args)
    assert proc.returncode == 2
    assert "missing.yaml" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["file", "folder with files"])
def test_out_that_is_not_a_run_folder_is_never_replaced(kind, tmp_path):
    """--out pointing at a file or at a folder of someone else's files: exit 2 before
    solving, and the path is left exactly as it was."""
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("keep me")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("keep me")
    proc = run("solve", str(QUICKSTART), "--out", str(target))
    assert proc.returncode == 2 and "choose another --out" in proc.stderr
    kept = target if kind == "file" else target / "notes.txt"
    assert kept.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]
