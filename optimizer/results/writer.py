"""The run folder of results-format.md, written atomically.

Everything goes into a fresh sibling folder first; only once it is complete does
it take the place of ``out_dir`` (an existing run is moved aside, then removed),
so a crash never leaves a half-written folder where a good one was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml


def instance_files(instance) -> dict[str, bytes]:
    """The instance as written into a run folder: canonical YAML (of the instance as
    solved, which may differ from the file after model_copy) plus its series file."""
    data = instance.model_dump(mode="json", exclude_none=True)
    files = {"instance.yaml": yaml.safe_dump(data, sort_keys=False).encode()}
    if instance.series_path is not None:
        files[Path(data["series"]["file"]).as_posix()] = Path(instance.series_path).read_bytes()
    return files


class RunFolderError(ValueError):
    """``--out`` names something that is not ours to replace."""


def check_target(out_dir: str | Path) -> Path:
    """The run folder's path, if writing there can only replace an earlier run: it
    must be absent, an empty folder, or a folder holding a run (summary.json)."""
    out = Path(out_dir).absolute()
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise RunFolderError(f"{out_dir}: exists and is not a folder; choose another --out")
        if any(out.iterdir()) and not (out / "summary.json").is_file():
            raise RunFolderError(f"{out_dir}: is a folder with files but not a run folder (no "
                                 "summary.json); it is not replaced, choose another --out")
    return out


def write_run_folder(out_dir: str | Path, files: dict[str, bytes | str],
                     frames: dict[str, object]) -> Path:
    """Write ``files`` (name -> content) and ``frames`` (name -> DataFrame; .csv or
    .parquet by suffix) into ``out_dir`` atomically."""
    out = check_target(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for name, content in files.items():
            target = stage / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        for name, df in frames.items():
            if name.endswith(".parquet"):
                df.to_parquet(stage / name, index=False)
            else:
                df.to_csv(stage / name, index=False)
        os.chmod(stage, 0o755)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "run")
        os.rename(stage, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"
