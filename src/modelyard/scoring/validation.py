"""Checks a scoring CSV against the active model's template, chunk by chunk (memory stays bounded)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator

import numpy as np
import pandas as pd

FIRST_N = 10
NUMERIC = ("integer", "number")


class Findings:
    """Issues of each kind with their first rows and a count, as `/validate` reports them."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        self.counts: dict[tuple[str, str | None], int] = defaultdict(int)
        self.examples: dict[tuple[str, str | None], list[str]] = defaultdict(list)

    def add(self, kind: str, column: str | None, rows: np.ndarray, values: list[Any] | None = None) -> None:
        if len(rows) == 0:
            return
        key = (kind, column)
        self.counts[key] += int(len(rows))
        room = FIRST_N - len(self.rows[key])
        if room > 0:
            self.rows[key].extend(int(r) for r in rows[:room])
            if values is not None:
                self.examples[key].extend(str(v)[:50] for v in values[:room])


MESSAGES = {
    "type_error": "{count} value(s) in column '{column}' are not numbers (e.g. {examples})",
    "out_of_range": "{count} value(s) in column '{column}' are outside the training range {range}",
    "unseen_category": "{count} value(s) in column '{column}' were never seen in training (e.g. {examples})",
    "empty_row": "{count} empty row(s)",
    "duplicate_id": "{count} duplicate value(s) in id column '{column}' (e.g. {examples})",
    "missing_value": "{count} empty value(s) in column '{column}'",
}
ERRORS = {"missing_column", "type_error"}


def _where(rows: list[int], count: int) -> str:
    """' in rows 4, 8 of the data': the same words and 1-based numbers as every other row message."""
    if not rows:
        return ""
    more = f" (the first {len(rows)} of {count})" if count > len(rows) else ""
    return f" in row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))} of the data{more}"


def check(chunks: Iterator[pd.DataFrame], *, signature: list[dict[str, Any]], target: str | None,
          reference: dict[str, dict[str, Any]], id_columns: list[str]) -> dict[str, Any]:
    """The `/validate` answer: valid, issues[], rows, labeled_rows. Rows are numbered from 1 (the first data row)."""
    findings = Findings()
    expected = [f["name"] for f in signature]
    types = {f["name"]: f.get("type", "string") for f in signature}
    issues: list[dict[str, Any]] = []
    header: list[str] | None = None
    seen_ids: dict[str, set[int]] = {c: set() for c in id_columns}
    rows = labeled = 0
    for chunk in chunks:
        if header is None:
            header = list(chunk.columns)
            missing = [c for c in expected if c not in header]
            unexpected = [c for c in header if c not in expected and c != target]
            issues += [{"kind": "missing_column", "column": c, "rows": [], "count": 0, "severity": "error",
                        "message": f"column '{c}' is missing; the template has {', '.join(expected)}"} for c in missing]
            issues += [{"kind": "unexpected_column", "column": c, "rows": [], "count": 0, "severity": "warning",
                        "message": f"column '{c}' is not in the template and will be ignored"} for c in unexpected]
        numbers = np.arange(rows + 1, rows + len(chunk) + 1)
        rows += len(chunk)
        text = chunk.astype("string")
        empty = text.isna() | (text.apply(lambda s: s.str.strip()) == "")
        findings.add("empty_row", None, numbers[empty.all(axis=1).to_numpy()])
        if target and target in chunk.columns:
            labeled += int((~empty[target]).sum())
        for name in expected:
            if name not in chunk.columns:
                continue
            present = ~empty[name].to_numpy()
            if types[name] in NUMERIC:
                values = pd.to_numeric(text[name].str.replace(",", "", regex=False), errors="coerce") \
                    .astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
                bad = present & np.isnan(values)
                findings.add("type_error", name, numbers[bad], text[name][bad].tolist())
                bounds = reference.get(name)
                if bounds and "min" in bounds:
                    outside = present & ~bad & ((values < bounds["min"]) | (values > bounds["max"]))
                    findings.add("out_of_range", name, numbers[outside], text[name][outside].tolist())
            else:
                known = reference.get(name, {}).get("categories")
                if known:
                    unseen = present & ~text[name].isin(known).to_numpy()
                    findings.add("unseen_category", name, numbers[unseen], text[name][unseen].tolist())
        for name in id_columns:
            if name in chunk.columns:
                hashes = pd.util.hash_pandas_object(text[name].fillna(""), index=False).to_numpy()
                dup = np.zeros(len(hashes), dtype=bool)
                for i, h in enumerate(hashes.tolist()):
                    if h in seen_ids[name]:
                        dup[i] = True
                    else:
                        seen_ids[name].add(h)
                findings.add("duplicate_id", name, numbers[dup], text[name][dup].tolist())
    if header is None:
        issues.append({"kind": "no_rows", "column": None, "rows": [], "count": 0, "severity": "error",
                       "message": "the file has a header but no data rows"})
    for (kind, column), count in findings.counts.items():
        bounds = reference.get(column or "", {})
        message = MESSAGES[kind].format(count=count, column=column, examples=", ".join(findings.examples[(kind, column)][:3]),
                                        range=f"[{bounds.get('min')}, {bounds.get('max')}]")
        message += _where(findings.rows[(kind, column)], count)
        issues.append({"kind": kind, "column": column, "rows": findings.rows[(kind, column)], "count": count,
                       "severity": "error" if kind in ERRORS else "warning", "message": message})
    if rows and findings.counts.get(("empty_row", None), 0) == rows:
        issues.append({"kind": "no_rows", "column": None, "rows": [], "count": 0, "severity": "error",
                       "message": "every row is empty"})
    valid = not any(i["severity"] == "error" for i in issues)
    return {"valid": valid, "issues": issues, "rows": rows, "labeled_rows": labeled,
            "target_present": bool(target and header and target in header)}
