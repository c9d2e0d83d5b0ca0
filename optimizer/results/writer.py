"""The run folder of results-format.md: at no moment missing, never half-written.

A write has three steps, each safe to interrupt (a crash, SIGKILL, power loss):

1. Stage. Every file goes into a fresh sibling ``.NAME.tmp-HOST-PID-START-RAND``;
   ``summary.json`` comes last, after every other file and the folder itself are
   fsynced, so a folder holding a ``summary.json`` is complete (the rule nightly batches
   resume on).
2. Swap. The staged folder takes the place of ``--out`` in one atomic step: a reader, or
   whatever survives a crash, sees the old complete run or the new one, never neither.

   - ``exchange`` (Linux, local file systems): ``renameat2(stage, out,
     RENAME_EXCHANGE)`` through libc swaps the two names; the old run is then at the
     staging name.
   - ``link`` (where the file system cannot exchange: NFS, CIFS, some FUSE, non-Linux):
     ``--out`` is a symbolic link to a versioned sibling ``.NAME.v-HOST-PID-START-RAND``
     and one ``os.replace`` of a new link swaps it. Turning a real folder holding a run
     into such a link takes two renames once; ``--out`` is missing between them.
   - ``rename`` (no symbolic links either, e.g. FAT): the old run is renamed aside and
     the new one into place, two renames with ``--out`` missing between them.

   Which one applies is probed once per file system (two empty sibling folders).
3. Discard. Whatever was displaced is renamed to ``.NAME.old-HOST-PID-START-RAND`` and
   removed.

HOST (a hash of the host name), PID and START (the writer's process id and start time)
tell a later writer whether the process that made a sibling is gone: at each write, the
``.NAME.tmp-*``, ``.NAME.old-*``, ``.NAME.link-*`` and unlinked ``.NAME.v-*`` siblings of
dead writers on this host are removed. A live writer's siblings, and those of other
hosts, are left alone. Where liveness cannot be asked safely (Windows, untested), no
sibling counts as dead.

Only what is ours is replaced: ``--out`` must be absent, an empty folder, a run folder
(it has a ``summary.json``) or a link this module wrote. ``check_target`` says so, and
that the place is writable, before the solve; whatever the swap displaces is checked
again and swapped back if it is not a run (files put there during the solve).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import os
import platform
import re
import secrets
import shutil
import socket
import sys
from pathlib import Path

import yaml

SUMMARY = "summary.json"


def instance_files(instance) -> dict[str, bytes]:
    """The instance as written into a run folder: canonical YAML (of the instance as
    solved, which may differ from the file after model_copy) plus its series file."""
    data = instance.model_dump(mode="json", exclude_none=True)
    files = {"instance.yaml": yaml.safe_dump(data, sort_keys=False).encode()}
    if instance.series_path is not None:
        files[Path(data["series"]["file"]).as_posix()] = Path(instance.series_path).read_bytes()
    return files


class RunFolderError(ValueError):
    """``--out`` names something that is not ours to replace, or a place we cannot write."""


def _step(point: str) -> None:
    """Named points of a write; does nothing. tests/test_writer.py kills a writer at
    each one to show that ``--out`` survives a crash anywhere."""


# --------------------------------------------------------------------------- who wrote it

def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process, from Linux's /proc;
    None where there is no /proc or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name in parentheses may hold spaces; the fields after it do not
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def process_start(pid: int) -> int:
    """Start time of a process in clock ticks since boot, 0 where unknown: with the pid
    it names one process, since pids are reused (the batch's lock uses it too)."""
    stat = _proc_stat(pid)
    return stat[1] if stat else 0


def _tag() -> str:
    """HOST-PID-START of this process (START 0 where unknown)."""
    return f"{_host()}-{os.getpid()}-{process_start(os.getpid())}"


def process_alive(pid: int, start: int) -> bool:
    """Whether the process that wrote a sibling still runs: a pid can be reused by a
    later process, which then has another start time."""
    if pid <= 0:
        return False
    if os.name != "posix":
        return True  # Windows' os.kill(pid, 0) terminates the process; nothing to ask
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: the pid is all there is to go by
    state, started = stat
    return state != "Z" and (start == 0 or started == start)


def _sibling(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.{kind}-{_tag()}-{secrets.token_hex(4)}"


def _sibling_pattern(name: str, kinds: str = "tmp|old|link|v") -> re.Pattern:
    return re.compile(rf"\.{re.escape(name)}\.({kinds})-([0-9a-f]{{8}})-(\d+)-(\d+)-[0-9a-f]+")


def _linked_version(path: Path, name: str) -> str | None:
    """The versioned sibling that ``path`` links to, if it is a link this module wrote
    for the run folder called ``name``."""
    if not path.is_symlink():
        return None
    target = os.readlink(path)
    return target if _sibling_pattern(name, "v").fullmatch(target) else None


def clean_leftovers(out_dir: str | Path) -> list[Path]:
    """Remove the siblings of ``out_dir`` left by writers that are gone (see the module
    docstring); the paths removed. Those that cannot be removed now are left for the
    next write."""
    out = Path(out_dir).absolute()
    pattern = _sibling_pattern(out.name)
    linked = _linked_version(out, out.name)
    host = _host()
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if (match is None or match[2] != host or entry.name == linked
                or process_alive(int(match[3]), int(match[4]))):
            continue
        path = Path(entry.path)
        # a displaced link: the version it points to may have been written by a process
        # that still runs, so it is found through the link, not by its own name
        version = _linked_version(path, out.name)
        try:
            if version is not None and version != linked:
                _remove(out.parent / version)
            _remove(path)
        except OSError:
            continue
        removed.append(path)
    return removed


# --------------------------------------------------------------------------- checks

def _not_ours(path: Path, name: str) -> str | None:
    """Why ``path``, holding what is or was the run folder ``name``, may not be replaced;
    None if it may."""
    if path.is_symlink():
        if _linked_version(path, name) is not None:
            return None
        return (f"is a symbolic link (to {os.readlink(path)}) that hashpivot did not write; "
                "it is not replaced")
    if not path.exists():
        return None
    if not path.is_dir():
        return "exists and is not a folder"
    try:
        if any(path.iterdir()) and not (path / SUMMARY).is_file():
            return ("is a folder with files but not a run folder (no summary.json); "
                    "it is not replaced")
    except OSError as exc:
        return f"is a folder that cannot be read ({exc.strerror})"
    return None


def _why_unwritable(path: Path) -> str:
    try:
        if hasattr(os, "statvfs") and os.statvfs(path).f_flag & os.ST_RDONLY:
            return "on a read-only file system"
    except OSError:
        pass
    return "not writable by this process (permissions or an immutable attribute)"


def check_target(out_dir: str | Path) -> Path:
    """The run folder's absolute path, if a run can be written there; otherwise
    RunFolderError with a sentence naming the path and why. ``out_dir`` must be absent,
    an empty folder, a run folder (summary.json) or a link written here by an earlier
    run; its folder must take a new sibling (the staging folder) and an existing run
    must be removable. Leaves nothing behind."""
    out = Path(out_dir).absolute()
    why = _not_ours(out, out.name)
    if why is not None:
        raise RunFolderError(f"{out_dir}: {why}; choose another --out")
    parent = out.parent
    existing = parent
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise RunFolderError(f"{out_dir}: cannot be created: {existing} is a file, not a "
                             "folder; choose another --out")
    if existing != parent:
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunFolderError(f"{out_dir}: cannot be created: {existing} is "
                                 f"{_why_unwritable(existing)}; choose another --out")
    else:
        # the exact operation the write starts with, so every reason (read-only file
        # system, immutable folder, permissions, quota) shows up now rather than after
        # the solve
        probe = _sibling(out, "tmp")
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as exc:
            raise RunFolderError(f"{out_dir}: the run is staged beside it, but {parent} "
                                 f"takes no new folder ({exc.strerror}); choose another "
                                 "--out") from None
    if out.is_dir():
        if not out.is_symlink() and os.path.ismount(out):
            raise RunFolderError(f"{out_dir}: is a mount point, which cannot be replaced "
                                 "by a rename; choose a folder inside it as --out")
        if not os.access(out, os.W_OK | os.X_OK):
            raise RunFolderError(f"{out_dir}: cannot be replaced: the folder is "
                                 f"{_why_unwritable(out)}; choose another --out")
    return out


# --------------------------------------------------------------------------- the swap

AT_FDCWD = -100
RENAME_EXCHANGE = 2
# where libc has no renameat2 wrapper (glibc < 2.28), the system call itself
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}


@functools.cache
def _renameat2():
    """renameat2 as a callable, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if hasattr(libc, "renameat2"):
        return libc.renameat2
    if platform.machine() in _SYS_RENAMEAT2 and hasattr(libc, "syscall"):
        return functools.partial(libc.syscall, ctypes.c_long(_SYS_RENAMEAT2[platform.machine()]))
    return None


def exchange(a: str | Path, b: str | Path) -> None:
    """Swap the names ``a`` and ``b`` (both must exist) in one atomic step: Linux's
    renameat2 with RENAME_EXCHANGE. OSError where the system or file system cannot."""
    func = _renameat2()
    if func is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available here", str(a))
    result = func(ctypes.c_int(AT_FDCWD), os.fsencode(a), ctypes.c_int(AT_FDCWD),
                  os.fsencode(b), ctypes.c_uint(RENAME_EXCHANGE))
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


_modes: dict[int, str] = {}  # st_dev of a folder -> how runs are swapped in there


def _swap_mode(out: Path) -> str:
    """exchange, link or rename (module docstring) for runs beside ``out``."""
    device = out.parent.stat().st_dev
    if device not in _modes:
        a, b = _sibling(out, "tmp"), _sibling(out, "tmp")
        a.mkdir()
        try:
            b.mkdir()
            try:
                exchange(a, b)
                _modes[device] = "exchange"
            except OSError:
                try:
                    os.symlink(a.name, b / "link")
                    _modes[device] = "link"
                except OSError:
                    _modes[device] = "rename"
        finally:
            for path in (a, b):
                shutil.rmtree(path, ignore_errors=True)
    return _modes[device]


def _fsync(path: Path) -> None:
    if os.name != "posix" and path.is_dir():
        return  # Windows cannot open a folder to fsync it
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, content: bytes | str) -> None:
    with open(path, "wb") as fh:
        fh.write(content.encode() if isinstance(content, str) else content)
        fh.flush()
        os.fsync(fh.fileno())


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        # summary.json first: a folder halfway removed must not pass for a complete run
        (path / SUMMARY).unlink(missing_ok=True)
        shutil.rmtree(path)


def _stage(stage: Path, files: dict[str, bytes | str], frames: dict[str, object]) -> None:
    folders = {stage}

    def target(name: str) -> Path:
        path = stage / name
        path.parent.mkdir(parents=True, exist_ok=True)
        folders.update(p for p in path.parents if p.is_relative_to(stage))
        return path

    for name, content in files.items():
        if name != SUMMARY:
            _write_bytes(target(name), content)
            _step(f"wrote:{name}")
    for name, df in frames.items():
        path = target(name)
        if name.endswith(".parquet"):
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        _fsync(path)
        _step(f"wrote:{name}")
    os.chmod(stage, 0o755)
    for folder in folders:
        _fsync(folder)
    _step("synced")
    # last: its presence says every other file is on disk
    _write_bytes(stage / SUMMARY, files[SUMMARY])
    _fsync(stage)
    _step(f"wrote:{SUMMARY}")


def _refuse_displaced(out: Path, out_dir, displaced: Path) -> None:
    """Raise if what was moved off ``out`` is not a run: it got there after
    check_target (during the solve or the write)."""
    why = _not_ours(displaced, out.name)
    if why is not None:
        raise RunFolderError(f"{out_dir}: was changed while the run was written and now "
                             f"{why}; choose another --out")


def _swap_exchange(out: Path, out_dir, stage: Path) -> list[Path]:
    if not os.path.lexists(out):
        os.rename(stage, out)
        return []
    exchange(stage, out)
    try:
        _refuse_displaced(out, out_dir, stage)
    except BaseException:  # an interrupt too: the caller deletes what is at the stage name
        exchange(stage, out)
        raise
    return [stage]


def _aside(out: Path, out_dir) -> Path:
    """Rename the real folder ``out`` aside (``--out`` is missing until the caller puts
    the new run there)."""
    aside = _sibling(out, "old")
    os.rename(out, aside)
    _step("aside-real")
    try:
        _refuse_displaced(out, out_dir, aside)
    except BaseException:
        os.rename(aside, out)
        raise
    return aside


def _swap_link(out: Path, out_dir, stage: Path) -> list[Path]:
    version = _sibling(out, "v")
    link = _sibling(out, "link")
    os.rename(stage, version)
    _step("versioned")
    aside = tomb = None
    try:
        os.symlink(version.name, link)
        if os.path.lexists(out) and not out.is_symlink():
            aside = _aside(out, out_dir)
        elif (previous := _linked_version(out, out.name)) is not None:
            # the version being replaced, under a name of this process: should it die
            # after the swap, the next write removes that version through this link
            tomb = _sibling(out, "old")
            os.symlink(previous, tomb)
        elif os.path.lexists(out):
            _refuse_displaced(out, out_dir, out)
        os.replace(link, out)
    except BaseException:
        if aside is not None and not os.path.lexists(out):
            os.rename(aside, out)
        for path in (link, tomb):
            if path is not None:
                path.unlink(missing_ok=True)
        shutil.rmtree(version, ignore_errors=True)
        raise
    return [path for path in (aside, tomb) if path is not None]


def _swap_rename(out: Path, out_dir, stage: Path) -> list[Path]:
    aside = _aside(out, out_dir) if os.path.lexists(out) else None
    try:
        os.rename(stage, out)
    except BaseException:
        if aside is not None:
            os.rename(aside, out)
        raise
    return [aside] if aside is not None else []


def _discard(out: Path, displaced: Path) -> None:
    """Remove a displaced run (and the versioned folder a displaced link points to),
    each under an ``.old-`` name of this process first, so that a crash halfway leaves
    a sibling the next write recognises as a dead writer's."""
    victims = [displaced]
    if (version := _linked_version(displaced, out.name)) is not None:
        victims.insert(0, out.parent / version)  # the link last: it is how it is found
    for victim in victims:
        try:
            old = victim
            if not _sibling_pattern(out.name, "old").fullmatch(victim.name):
                old = _sibling(out, "old")
                os.rename(victim, old)
            _step("aside")
            _remove(old)
        except OSError:
            continue  # the new run is in place; clean_leftovers retries later


def write_run_folder(out_dir: str | Path, files: dict[str, bytes | str],
                     frames: dict[str, object]) -> Path:
    """Write ``files`` (relative name -> content, with ``summary.json``) and ``frames``
    (name -> DataFrame; .csv or .parquet by suffix) as the run folder ``out_dir``, which
    at every moment holds either its earlier run or the complete new one (module
    docstring). Returns its absolute path."""
    if SUMMARY not in files:
        raise ValueError(f"write_run_folder({out_dir}): files has no {SUMMARY}; without it "
                         "the folder is not a run")
    out = check_target(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    mode = _swap_mode(out)
    stage = _sibling(out, "tmp")
    stage.mkdir()
    try:
        _stage(stage, files, frames)
        swap = {"exchange": _swap_exchange, "link": _swap_link, "rename": _swap_rename}[mode]
        displaced = swap(out, out_dir, stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _fsync(out.parent)
    _step("swapped")
    for path in displaced:
        _discard(out, path)
    return out
