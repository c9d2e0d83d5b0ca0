"""Reading and checking the hourly series CSV of an instance.

``read_series`` never raises for bad input: every problem becomes a ``Problem``.
The timestamp column is checked over the whole file (format, UTC, on the hour,
strictly increasing, no duplicates, no gaps); cell values are checked only on the
rows inside the horizon, the other rows being ignored.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd

from .problems import Problem, count, cut, listing, safe_repr

MAX_CSV_BYTES = 1024 * 1024 * 1024  # 1 GiB
TIMESTAMP = "timestamp"

_UTC_OFFSETS = {"Z", "z", "+00:00", "+0000", "-00:00", "-0000"}
_NAN_WORDS = {"nan", "+nan", "-nan"}


@dataclass
class SeriesResult:
    path: Path | None = None  # resolved path of the CSV
    columns: list[str] | None = None  # data columns (timestamp excluded), when the header was read
    frame: pd.DataFrame | None = None  # horizon rows, float64, of the columns without bad cells
    complete: bool = False  # frame holds every column and the file has no problem
    problems: list[Problem] = field(default_factory=list)


def _fmt_ts(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve_series_path(ref: str, base_dir: Path) -> tuple[Path | None, str | None]:
    """(resolved path, None) or (None, message) when ``ref`` is not allowed."""
    if "\x00" in ref:
        return None, "contains a NUL character"
    if PurePosixPath(ref).is_absolute() or PureWindowsPath(ref).anchor:
        return None, "must be a path relative to the instance file's folder, not an absolute path"
    norm = os.path.normpath(ref.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        return None, "must stay inside the instance file's folder ('..' escapes it)"
    base_real = os.path.realpath(base_dir)
    target = os.path.realpath(os.path.join(base_dir, ref))
    try:
        inside = os.path.commonpath([base_real, target]) == base_real
    except ValueError:
        inside = False
    if not inside:
        return None, "resolves (through a symbolic link) outside the instance file's folder"
    return Path(target), None


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


# clean reads, per process, by (file, size, mtime, horizon hours): a sweep validates
# every scenario against one file, which would otherwise be parsed again each time
_CLEAN_READS: dict[tuple, SeriesResult] = {}
_CLEAN_READS_KEPT = 4


def _read_key(ref: str, base_dir: Path, hours: pd.DatetimeIndex | None) -> tuple | None:
    path, _ = resolve_series_path(ref, base_dir)
    if path is None or hours is None or not len(hours):
        return None
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return (str(path), st.st_size, st.st_mtime_ns, hours[0], len(hours))


def read_series(
    ref: str, base_dir: Path, hours: pd.DatetimeIndex | None, file_label: str
) -> SeriesResult:
    """Read and check the series CSV ``ref`` (relative to ``base_dir``).

    ``hours`` are the horizon hours (None when the horizon itself is invalid: then
    coverage and cell values are not checked and no frame is returned). A file read
    without a problem is kept (a few per process) and served again, as a copy, while
    its size and modification time are unchanged.
    """
    key = _read_key(ref, base_dir, hours)
    hit = _CLEAN_READS.get(key) if key is not None else None
    if hit is not None:
        return SeriesResult(hit.path, list(hit.columns), hit.frame.copy(), True, [])
    res = _read_series(ref, base_dir, hours, file_label)
    if key is not None and res.complete and not res.problems:
        if len(_CLEAN_READS) >= _CLEAN_READS_KEPT:
            _CLEAN_READS.pop(next(iter(_CLEAN_READS)))
        _CLEAN_READS[key] = SeriesResult(res.path, list(res.columns), res.frame.copy(), True, [])
    return res


def _read_series(
    ref: str, base_dir: Path, hours: pd.DatetimeIndex | None, file_label: str
) -> SeriesResult:
    res = SeriesResult()

    def problem(path: str, message: str, value: object) -> None:
        res.problems.append(Problem(file_label, path, value, message))

    path, why = resolve_series_path(ref, base_dir)
    if path is None:
        problem("series.file", why or "invalid path", ref)
        return res
    res.path = path
    label = cut(ref)  # the file as named in problem paths
    try:  # even exists() raises for some paths (a name longer than the system allows)
        if not path.exists():
            problem("series.file", f"series file not found: {cut(str(path))}", ref)
            return res
        if not path.is_file():
            problem("series.file", f"not a regular file: {cut(str(path))}", ref)
            return res
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            problem("series.file", f"file is larger than {MAX_CSV_BYTES // 2**20} MB", size)
            return res
        raw = path.read_bytes()
    except OSError as e:
        problem("series.file", f"cannot read the series file: {e.strerror or e}", ref)
        return res
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        problem(
            label,
            f"not UTF-8 text: byte {raw[e.start]:#04x} on line {line}",
            raw[e.start : e.start + 8],
        )
        return res
    if not text.strip():
        problem(label, "the series file is empty (expected a header with a 'timestamp' column)", "")
        return res
    # ---- header (parsed on its own: pandas would rename duplicate names)
    try:
        first = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as e:
        problem(f"{label} header", f"not a readable CSV header: {e}", None)
        return res
    header = [h.strip() for h in first]
    header_ok = True
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if not name:
            problem(f"{label} header", f"column {i + 1} has no name", name)
            header_ok = False
        elif name in seen:
            problem(
                f"{label} header",
                f"column name {safe_repr(name)} appears twice (columns {seen[name] + 1} and {i + 1})",
                name,
            )
            header_ok = False
        else:
            seen[name] = i
    res.columns = [h for h in dict.fromkeys(header) if h and h != TIMESTAMP]
    if TIMESTAMP not in seen:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
            hint = "; the file must be comma-separated"
        problem(
            f"{label} header",
            f"no {TIMESTAMP!r} column (columns: {listing(header)}){hint}",
            header,
        )
        return res
    ts_pos = seen[TIMESTAMP]

    # ---- body: numbers parsed by the C parser when every cell is numeric (fast path),
    # else every cell as text (the slow path, which names each bad cell).
    # The C parser ends a cell at a NUL ('17<NUL>5' would read as 17): a file holding one
    # is read by the Python parser, as text, so that such a cell is named and refused.
    engine = "python" if "\x00" in text else "c"
    numeric: pd.DataFrame | None = None
    cells: pd.DataFrame | None = None
    if engine == "c":
        try:
            numeric = _read_body(text, len(header), ts_pos, as_text=False)
        except Exception:  # noqa: BLE001 - the text read below reports the problem
            numeric = None
    if numeric is not None and not all(
        numeric[j].dtype.kind in "iuf" for j in range(len(header)) if j != ts_pos
    ):
        numeric = None
    if numeric is None:
        try:
            cells = _read_body(text, len(header), ts_pos, as_text=True, engine=engine)
        except Exception as e:  # noqa: BLE001 - pandas raises several types for malformed CSV
            problem(label, f"not a readable CSV: {cut(str(e).strip(), 200)}", None)
            return res
        if cells is None:
            problem(
                label,
                "not a readable CSV: the data rows do not have one field per header column",
                None,
            )
            return res
        body = cells
        blank_row = (cells == "").all(axis=1).to_numpy()
    else:
        body = numeric
        tstrip = numeric[ts_pos].fillna("").astype(str).str.strip()
        blank_row = (tstrip == "").to_numpy() if len(header) == 1 else np.zeros(len(body), bool)
    body = body[~blank_row]
    lines = body.index.to_numpy() + 2  # file line of each row (header is line 1)
    if len(body) == 0:
        problem(f"{label} column {TIMESTAMP!r}", "the series file has no data rows", None)
        return res

    # ---- timestamps (whole file): pandas parses ISO 8601; the UTC rule needs the offset
    where = f"{label} column {TIMESTAMP!r}"
    tcol = body[ts_pos].fillna("").astype(str).str.strip()
    stamps = pd.to_datetime(tcol, format="ISO8601", utc=True, errors="coerce")
    offsets = tcol.str.extract(r"([Zz]|[+-]\d{2}:?\d{2})$", expand=False)
    for bad, what in (
        (stamps.isna(), "not a valid date and time in ISO 8601, such as 2027-01-01T00:00:00Z"),
        (offsets.isna(), "timestamp has no UTC designator; write e.g. 2027-01-01T00:00:00Z"),
        (
            ~offsets.isin(_UTC_OFFSETS),
            "timestamp is not in UTC (offset {}); convert the file to UTC",
        ),
    ):
        bad = bad.to_numpy(dtype=bool)
        if bad.any():
            i = _first(bad)
            problem(
                where,
                f"line {lines[i]}: {what.format(offsets.iloc[i])} "
                f"({count(int(bad.sum()), 'bad row')} in all)",
                tcol.iloc[i],
            )
            return res
    idx = pd.DatetimeIndex(stamps)
    off_hour = np.asarray(idx != idx.floor("h"), dtype=bool)
    if off_hour.any():
        i = _first(off_hour)
        problem(
            where,
            f"line {lines[i]}: timestamp is not on the hour (series are hourly)",
            tcol.iloc[i],
        )
    step_h = np.asarray((idx[1:] - idx[:-1]) / pd.Timedelta(hours=1), dtype=float)
    for bad, what in (
        (step_h == 0, "duplicate timestamp"),
        (step_h < 0, "timestamps not strictly increasing"),
        (step_h > 1, "gap in the hourly series"),
    ):
        if bad.any():
            i = _first(bad)
            if step_h[i] > 1:
                detail = f"no rows between {tcol.iloc[i]} (line {lines[i]}) and {tcol.iloc[i + 1]}"
            else:
                detail = f"{tcol.iloc[i + 1]} after {tcol.iloc[i]}"
            problem(
                where,
                f"line {lines[i + 1]}: {what}: {detail} ({count(int(bad.sum()), 'such row')} in all)",
                tcol.iloc[i + 1],
            )
    ts_ok = not off_hour.any() and bool((step_h == 1).all())
    if not ts_ok or hours is None:
        return res

    # ---- coverage
    if len(hours) == 0:  # pragma: no cover - a horizon has at least one period
        return res
    if idx[0] > hours[0] or idx[-1] < hours[-1]:
        problem(
            where,
            f"the series covers {_fmt_ts(idx[0])} .. {_fmt_ts(idx[-1])} but the horizon needs every "
            f"hour {_fmt_ts(hours[0])} .. {_fmt_ts(hours[-1])}",
            f"{_fmt_ts(idx[0])} .. {_fmt_ts(idx[-1])}",
        )
        return res
    inside = np.asarray((idx >= hours[0]) & (idx <= hours[-1]), dtype=bool)
    rlines = lines[inside]
    rstamps = idx[inside]
    if len(rlines) != len(hours):  # pragma: no cover - implied by the checks above
        problem(where, "the horizon hours are not covered exactly once", len(rlines))
        return res

    # ---- values (horizon rows only)
    names = [(name, pos) for name, pos in seen.items() if name != TIMESTAMP]
    if numeric is not None:
        rows = body[inside]
        data = {name: rows[pos].to_numpy(dtype="float64") for name, pos in names}
        if all(np.isfinite(v).all() for v in data.values()):
            res.frame = _frame(data, hours)
            res.complete = header_ok
            return res
        # some cell is not finite: read the cells as text to name it exactly
        cells = _read_body(text, len(header), ts_pos, as_text=True)
        assert cells is not None
    assert cells is not None
    rows = cells.loc[rlines - 2]
    data = {}
    values_ok = True
    for name, pos in names:
        col = rows[pos]
        colwhere = f"{label} column {safe_repr(name)}"
        blank = (col == "").to_numpy()
        # to_numeric too stops at a NUL ('17.5<NUL>' -> 17.5): such a cell is no number
        numbers = pd.to_numeric(col.where(~col.str.contains("\x00", regex=False)), errors="coerce")
        numbers = numbers.to_numpy(dtype=float, na_value=np.nan)
        nanword = col.str.lower().isin(_NAN_WORDS).to_numpy()
        nonnum = np.isnan(numbers) & ~blank & ~nanword
        nonfinite = (~np.isfinite(numbers) & ~np.isnan(numbers)) | nanword
        for mask, what in (
            (blank, "blank cell"),
            (nonnum, "non-numeric cell"),
            (nonfinite, "non-finite cell"),
        ):
            if mask.any():
                i = _first(mask)
                problem(
                    colwhere,
                    f"{what} at line {rlines[i]} ({_fmt_ts(rstamps[i])}); "
                    f"{count(int(mask.sum()), 'such cell')} in the horizon",
                    col.iloc[i],
                )
                values_ok = False
        if not (blank.any() or nonnum.any() or nonfinite.any()):
            data[name] = numbers
    # The frame holds every column whose cells are all valid (all of them when
    # there is no problem): the loader range-checks those even when others fail.
    res.frame = _frame(data, hours)
    res.complete = values_ok and header_ok
    return res


def _frame(data: dict[str, np.ndarray], hours: pd.DatetimeIndex) -> pd.DataFrame:
    frame = pd.DataFrame(data, index=hours.copy(), dtype="float64")
    frame.index.name = TIMESTAMP
    return frame


def _read_body(
    text: str, n_fields: int, ts_pos: int, as_text: bool, engine: str = "c"
) -> pd.DataFrame | None:
    """The data rows, columns numbered 0.. and row k on file line k + 2.

    as_text: every cell a stripped string ("" when blank or missing); else numbers
    where the C parser reads them. None when the rows do not have n_fields fields.
    """
    if as_text:
        # the header row is read too, so that it fixes the number of fields
        table = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine=engine,
        )
        table = table.iloc[1:]
        table.index = table.index - 1
    else:
        table = pd.read_csv(
            io.StringIO(text),
            header=None,
            skiprows=1,
            dtype={ts_pos: str},
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    if table.shape[1] != n_fields:
        return None
    table.columns = range(n_fields)
    if as_text:
        table = table.fillna("").apply(lambda c: c.astype(str).str.strip())
    return table
