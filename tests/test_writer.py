"""The run folder writer (optimizer/results/writer.py): --out is never missing or
half-written, whatever point a writer dies at; leftovers of dead writers are removed by
the next write; what is not a run is never replaced; an unwritable --out is refused by
check_target, before any solve.

Tests run as root here, and root ignores permission bits. Unwritable places are made in
ways that stop root too: a path under a file, the immutable attribute (chattr +i), a
read-only tmpfs mount. The permission-bits refusal an ordinary user gets goes through
os.access (which answers for the calling user), so that case monkeypatches os.access.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the child process below runs this file as a script
    sys.path.insert(0, str(ROOT))

from optimizer.results import writer  # noqa: E402
from optimizer.results.writer import (  # noqa: E402
    RunFolderError,
    check_target,
    clean_leftovers,
    write_run_folder,
)

FILES = ["capex.csv", "cashflows.csv", "data/series.csv", "dispatch.parquet",
         "instance.yaml", "solver.log", "summary.json"]
ON_LINUX = sys.platform.startswith("linux")


def run_content(label: str) -> tuple[dict, dict]:
    """A run whose every file says which run it is; summary.json comes first in the
    dict, so only the writer can make it last on disk."""
    files = {"summary.json": json.dumps({"run": label}), "instance.yaml": f"name: {label}\n",
             "solver.log": f"log of {label}\n", "data/series.csv": f"run\n{label}\n"}
    frames = {"capex.csv": pd.DataFrame({"run": [label] * 3, "quantity": [1, 2, 3]}),
              "cashflows.csv": pd.DataFrame({"run": [label] * 2, "usd": [1.5, -2.0]}),
              "dispatch.parquet": pd.DataFrame({"run": [label] * 5000, "mw": range(5000)})}
    return files, frames


def complete_run(folder: Path) -> str:
    """The label of the run in ``folder``; AssertionError unless it holds exactly the
    files of one run, every one from the same run."""
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert found == FILES, f"{folder}: {found}"
    labels = {json.loads((folder / "summary.json").read_text())["run"],
              (folder / "instance.yaml").read_text().removeprefix("name: ").strip(),
              (folder / "solver.log").read_text().removeprefix("log of ").strip(),
              (folder / "data/series.csv").read_text().split()[1],
              *pd.read_csv(folder / "capex.csv").run, *pd.read_csv(folder / "cashflows.csv").run,
              *pd.read_parquet(folder / "dispatch.parquet").run}
    assert len(labels) == 1, f"{folder}: files of runs {labels}"
    return labels.pop()


def write(out: Path, label: str) -> Path:
    return write_run_folder(out, *run_content(label))


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.fixture
def mode(request, monkeypatch):
    """Force one swap mechanism (the module docstring's exchange, link or rename)."""
    if request.param == "exchange" and not ON_LINUX:
        pytest.skip("renameat2 is Linux only")
    monkeypatch.setattr(writer, "_swap_mode", lambda out: request.param)
    return request.param


ALL_MODES = pytest.mark.parametrize("mode", ["exchange", "link", "rename"], indirect=True)


# --------------------------------------------------------------------------- mechanism

@pytest.mark.skipif(not ON_LINUX, reason="renameat2 is Linux only")
def test_exchange_swaps_two_folders_and_is_what_this_file_system_uses(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("in a")
    (tmp_path / "b").mkdir()
    writer.exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "x").read_text() == "in a" and not any((tmp_path / "a").iterdir())
    with pytest.raises(FileNotFoundError):
        writer.exchange(tmp_path / "a", tmp_path / "missing")
    assert writer._swap_mode(tmp_path / "run") == "exchange"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # the probe is gone


@ALL_MODES
def test_a_run_replaces_a_run_and_nothing_is_left_beside_it(tmp_path, mode):
    out = tmp_path / "run"
    assert write(out, "one") == out
    write(out, "two")
    assert complete_run(out) == "two"
    if mode == "link":
        assert out.is_symlink() and siblings(out) == [os.readlink(out)]
    else:
        assert not out.is_symlink() and siblings(out) == []


def test_summary_json_is_written_last_after_everything_else_is_synced(tmp_path, monkeypatch):
    """At every named step before the last file, the staging folder has no summary.json;
    by the time it is written, every other file and both folders are fsynced; after the
    swap the parent folder is too (so the renames survive a power loss)."""
    if not ON_LINUX:
        pytest.skip("fsync targets are read back through /proc/self/fd")
    out = tmp_path / "run"
    write(out, "old")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    steps = []

    def step(point):
        has_summary = any((p / "summary.json").exists() for p in tmp_path.glob(".run.tmp-*"))
        steps.append((point, has_summary, sorted(Path(s).name for s in synced)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(writer, "_step", step)
    write(out, "new")
    points = [s[0] for s in steps]
    assert points == ["wrote:instance.yaml", "wrote:solver.log", "wrote:data/series.csv",
                      "wrote:capex.csv", "wrote:cashflows.csv", "wrote:dispatch.parquet",
                      "synced", "wrote:summary.json", "swapped", "aside"]
    before_summary = steps[:points.index("wrote:summary.json")]
    assert not any(has for _, has, _ in before_summary)
    at_synced = steps[points.index("synced")][2]
    assert set(at_synced) >= {"instance.yaml", "solver.log", "series.csv", "capex.csv",
                              "cashflows.csv", "dispatch.parquet", "data"}
    assert any(name.startswith(".run.tmp-") for name in at_synced)
    assert "summary.json" not in at_synced
    assert tmp_path.name in steps[points.index("swapped")][2]
    assert complete_run(out) == "new"


def test_files_without_summary_json_are_refused(tmp_path):
    files, frames = run_content("x")
    del files["summary.json"]
    with pytest.raises(ValueError) as exc:
        write_run_folder(tmp_path / "run", files, frames)
    assert str(exc.value) == (f"write_run_folder({tmp_path / 'run'}): files has no "
                              "summary.json; without it the folder is not a run")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("first, second", [("link", "exchange"), ("exchange", "link")])
def test_a_run_written_one_way_is_replaced_the_other(tmp_path, monkeypatch, first, second):
    """A link left by the fallback is exchanged away with the folder it points to; a real
    folder becomes a link (the one two-rename step of the link fallback)."""
    if "exchange" in (first, second) and not ON_LINUX:
        pytest.skip("renameat2 is Linux only")
    out = tmp_path / "run"
    monkeypatch.setattr(writer, "_swap_mode", lambda out: first)
    write(out, "one")
    monkeypatch.setattr(writer, "_swap_mode", lambda out: second)
    write(out, "two")
    assert complete_run(out) == "two"
    assert out.is_symlink() == (second == "link")
    assert siblings(out) == ([os.readlink(out)] if second == "link" else [])


# --------------------------------------------------------------------------- crashes

CRASH_POINTS = {
    # point: which run --out holds after the writer dies there
    "wrote:instance.yaml": "old", "wrote:capex.csv": "old", "wrote:dispatch.parquet": "old",
    "synced": "old", "wrote:summary.json": "old", "versioned": "old",
    "swapped": "new", "aside": "new", "removing": "new",
    # right after the k-th rename, replace or exchange, whatever the mechanism
    "call:1": None, "call:2": None, "call:3": None,
}


def _child(out: str, mode: str, point: str, label: str) -> None:
    """Write run ``label`` to ``out`` and SIGKILL this process at ``point``."""
    writer._swap_mode = lambda out: mode

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def step(reached):
        if reached == point:
            die()
        if reached == "aside" and point == "removing":
            unlink = os.unlink

            def unlink_then_die(*args, **kwargs):  # one file of the old run is gone
                unlink(*args, **kwargs)
                die()

            os.unlink = unlink_then_die

    writer._step = step
    if point.startswith("call:"):
        calls = [0]

        def counted(call):
            def wrapper(*args, **kwargs):
                call(*args, **kwargs)
                calls[0] += 1
                if calls[0] == int(point.removeprefix("call:")):
                    die()
            return wrapper

        os.rename, os.replace = counted(os.rename), counted(os.replace)
        writer.exchange = counted(writer.exchange)
    write_run_folder(out, *run_content(label))


@pytest.mark.parametrize("mode, point", [
    (mode, point) for mode in ("exchange", "link") for point in CRASH_POINTS
    if point != "versioned" or mode == "link"], indirect=["mode"])
def test_a_writer_killed_anywhere_leaves_the_old_or_the_new_run(tmp_path, mode, point):
    """A writer is SIGKILLed at ``point`` while replacing run "old" by run "new": --out
    holds one complete run (old until the swap, new from it on), every sibling with a
    summary.json is a complete run, and the next write removes what the dead writer
    left. A "call:k" point not reached lets the writer finish."""
    out = tmp_path / "run"
    write(out, "old")
    proc = subprocess.run([sys.executable, __file__, str(out), mode, point, "new"],
                          capture_output=True, text=True, timeout=120)
    linked = [os.readlink(out)] if mode == "link" else []
    if proc.returncode == 0 and point.startswith("call:"):
        assert complete_run(out) == "new" and siblings(out) == linked
        return
    assert proc.returncode == -signal.SIGKILL, proc.stderr  # it did reach the point
    expected = CRASH_POINTS[point]
    assert complete_run(out) in ((expected,) if expected else ("old", "new"))
    left = siblings(out)
    assert set(left) > set(linked)  # the dead writer left something
    for name in left:
        if (out.parent / name / "summary.json").exists():
            complete_run(out.parent / name)
    write(out, "third")
    assert complete_run(out) == "third"
    assert siblings(out) == ([os.readlink(out)] if mode == "link" else [])


def test_leftovers_of_live_writers_and_other_hosts_are_kept(tmp_path):
    """Of these siblings of run/, only those of a gone writer on this host go: a reaped
    child's pid, or this process's pid with another start time (a reused pid). Kept:
    this live process's, another host's, the folder run/ links to, another target's."""
    out = tmp_path / "run"
    host, pid, start = writer._tag().split("-")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    other_host = "0" * 8 if host != "0" * 8 else "1" * 8
    names = {
        f".run.tmp-{host}-{child.pid}-{start}-aa": False,
        f".run.old-{host}-{child.pid}-0-bb": False,
        f".run.v-{host}-{child.pid}-1-cc": False,
        f".run.tmp-{host}-{pid}-{int(start) + 1}-dd": not ON_LINUX,
        f".run.tmp-{host}-{pid}-{start}-ee": True,
        f".run.tmp-{other_host}-{child.pid}-{start}-ff": True,
        f".run.v-{host}-{child.pid}-1-aa": True,  # run/ links here
        f".runs.tmp-{host}-{child.pid}-{start}-aa": True,
        ".run.tmp-abc": True,  # not a name this module makes
    }
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text("{}")
    os.symlink(f".run.v-{host}-{child.pid}-1-aa", out)
    removed = clean_leftovers(out)
    assert sorted(p.name for p in removed) == sorted(n for n, keep in names.items() if not keep)
    assert siblings(out) == sorted(n for n, keep in names.items() if keep)


# --------------------------------------------------------------------------- not ours

@ALL_MODES
@pytest.mark.parametrize("kind", ["file", "folder with files", "symbolic link"])
def test_what_is_not_a_run_is_never_replaced(tmp_path, mode, kind):
    out = tmp_path / "run"
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere, "elsewhere")
    if kind == "file":
        out.write_text("keep me")
        why = "exists and is not a folder"
    elif kind == "folder with files":
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
        why = ("is a folder with files but not a run folder (no summary.json); "
               "it is not replaced")
    else:
        out.symlink_to(elsewhere)
        why = (f"is a symbolic link (to {elsewhere}) that hashpivot did not write; "
               "it is not replaced")
    before = siblings(out)
    for call in (check_target, lambda o: write(o, "new")):
        with pytest.raises(RunFolderError) as exc:
            call(out)
        assert str(exc.value) == f"{out}: {why}; choose another --out"
    if kind == "symbolic link":
        assert os.readlink(out) == str(elsewhere) and complete_run(elsewhere) == "elsewhere"
    else:
        assert (out if kind == "file" else out / "notes.txt").read_text() == "keep me"
    assert siblings(out) == before


@ALL_MODES
def test_files_put_into_an_empty_out_during_the_write_are_swapped_back(tmp_path, mode,
                                                                      monkeypatch):
    """--out was an empty folder when checked; someone writes into it before the swap.
    The swap moves their folder off --out, sees it is not a run, puts it back."""
    out = tmp_path / "run"
    out.mkdir()

    def step(point):
        if point == "wrote:summary.json":
            (out / "notes.txt").write_text("keep me")

    monkeypatch.setattr(writer, "_step", step)
    with pytest.raises(RunFolderError) as exc:
        write(out, "new")
    assert str(exc.value) == (
        f"{out}: was changed while the run was written and now is a folder with files but "
        "not a run folder (no summary.json); it is not replaced; choose another --out")
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and not out.is_symlink()
    assert siblings(out) == []


# --------------------------------------------------------------------------- unwritable

def test_out_under_a_file_is_refused(tmp_path):
    (tmp_path / "file.txt").write_text("keep me")
    out = tmp_path / "file.txt" / "runs" / "run"
    with pytest.raises(RunFolderError) as exc:
        check_target(out)
    assert str(exc.value) == (f"{out}: cannot be created: {tmp_path / 'file.txt'} is a file, "
                              "not a folder; choose another --out")


def test_the_cli_refuses_an_unwritable_out_before_solving(tmp_path):
    (tmp_path / "file.txt").write_text("keep me")
    out = tmp_path / "file.txt" / "run"
    proc = subprocess.run([sys.executable, "-m", "optimizer", "solve",
                           str(ROOT / "instances" / "quickstart" / "instance.yaml"),
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert f"{out}: cannot be created: {tmp_path / 'file.txt'} is a file" in proc.stderr
    assert "Traceback" not in proc.stderr and "NPV" not in proc.stdout


@contextmanager
def immutable(path: Path):
    """chattr +i: not even root may then add, remove or rename entries."""
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_immutable_run_folder_is_refused_and_a_forced_write_leaves_nothing(tmp_path,
                                                                              monkeypatch):
    out = tmp_path / "run"
    write(out, "old")
    with immutable(out):
        with pytest.raises(RunFolderError) as exc:
            check_target(out)
        assert str(exc.value) == (
            f"{out}: cannot be replaced: the folder is not writable by this process "
            "(permissions or an immutable attribute); choose another --out")
        # past the check (as if made immutable during the solve): the swap fails, and
        # neither the staging folder nor an .old- folder stays behind
        monkeypatch.setattr(writer, "check_target", lambda out_dir: Path(out_dir).absolute())
        with pytest.raises(PermissionError):
            write(out, "new")
        assert siblings(out) == []
    assert complete_run(out) == "old"


def test_an_immutable_parent_is_refused(tmp_path):
    parent = tmp_path / "runs"
    parent.mkdir()
    with immutable(parent):
        with pytest.raises(RunFolderError) as exc:
            check_target(parent / "run")
        assert list(parent.iterdir()) == []
    assert str(exc.value) == (f"{parent / 'run'}: the run is staged beside it, but {parent} "
                              "takes no new folder (Operation not permitted); choose another "
                              "--out")


@contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"{options},size=1m", "tmpfs", str(path)],
            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_read_only_file_system_is_refused(tmp_path):
    ro = tmp_path / "ro"
    with tmpfs(ro, "ro"):
        with pytest.raises(RunFolderError) as exc:
            check_target(ro / "run")
        assert str(exc.value) == (f"{ro / 'run'}: the run is staged beside it, but {ro} takes "
                                  "no new folder (Read-only file system); choose another --out")
        with pytest.raises(RunFolderError) as exc:
            check_target(ro / "missing" / "run")
        assert str(exc.value) == (f"{ro / 'missing' / 'run'}: cannot be created: {ro} is on "
                                  "a read-only file system; choose another --out")


def test_a_mount_point_is_refused(tmp_path):
    """A rename cannot move a mount point (EBUSY): found before the solve."""
    mounted = tmp_path / "volume"
    with tmpfs(mounted, "rw"):
        with pytest.raises(RunFolderError) as exc:
            check_target(mounted)
    assert str(exc.value) == (f"{mounted}: is a mount point, which cannot be replaced by a "
                              "rename; choose a folder inside it as --out")


def test_a_folder_the_user_may_not_write_is_refused(tmp_path, monkeypatch):
    """As root the permission bits cannot refuse anything, so os.access (which
    check_target asks, and which answers for the calling user) says no for run/."""
    out = tmp_path / "run"
    write(out, "old")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode_, **kw: (
        False if Path(path) == out else real_access(path, mode_, **kw)))
    with pytest.raises(RunFolderError) as exc:
        check_target(out)
    assert str(exc.value) == (
        f"{out}: cannot be replaced: the folder is not writable by this process "
        "(permissions or an immutable attribute); choose another --out")


if __name__ == "__main__":
    _child(*sys.argv[1:])
