"""bench/report.py: every table of the markdown report has as many cells in each row as its
header has columns (a missing header once shifted every CPU column of "Every step" by one)."""

import json
from pathlib import Path

from bench.report import markdown

RESULTS = (
    Path(__file__).resolve().parent.parent
    / "bench"
    / "results"
    / "message-changes"
    / "after"
    / "results.json"
)


def tables(text: str) -> list[list[str]]:
    """The markdown tables of `text`, each as its lines."""
    found, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def cells(line: str) -> int:
    return line.strip().strip("|").count("|") + 1


def test_every_row_of_every_table_has_a_cell_under_each_header():
    report = markdown(json.loads(RESULTS.read_text()))
    every_step = None
    for table in tables(report):
        columns = cells(table[0])
        assert all(cells(row) == columns for row in table[1:]), table[0]
        if "server µs/delivery" in table[0] and "step" in table[0]:
            every_step = table
    assert every_step is not None, "the Every step table names its µs per delivery column"
    header = [name.strip() for name in every_step[0].strip("|").split("|")]
    first = [value.strip() for value in every_step[2].strip("|").split("|")]
    # The µs column holds a number, the CPU columns beside it percentages.
    row = dict(zip(header, first, strict=True))
    assert row["server CPU"].endswith("%") and row["pg+redis CPU"].endswith("%")
    assert float(row["server µs/delivery"].replace(",", "")) > 0
