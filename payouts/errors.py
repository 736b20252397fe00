"""Errors a user can act on, and findings (row-level problems) as data."""

from __future__ import annotations

from dataclasses import dataclass


class InputError(Exception):
    """Bad input or arguments: the run stops, nothing is written, the CLI exits 2.

    The message names the file, row and column where known; `fix` says what to do.
    """

    def __init__(
        self,
        message: str,
        *,
        fix: str = "",
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.file = file
        self.row = row
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"line {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        head = (", ".join(where) + ": ") if where else ""
        tail = f" -> {self.fix}" if self.fix else ""
        return f"{head}{self.message}{tail}"


@dataclass(frozen=True, order=True)
class Finding:
    """One row-level validation problem, written to rejected_rows.csv.

    `source_row` is the row's line number in its CSV file (the header is line 1, so the first
    data row is 2) - what an editor or spreadsheet shows. For Parquet inputs it is the number
    the row would have in the same table written as CSV.
    """

    source_file: str
    source_row: int
    node_address: str
    column: str
    check: str
    value: str
