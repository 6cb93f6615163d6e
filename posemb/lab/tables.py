"""Result tables that a notebook shows as HTML and a console prints as aligned text.

A chapter that prints a table with ``print`` gets a block of monospaced text, which a phone
cuts to its first columns. :class:`Table` is displayed by Jupyter (and by the book's site)
as an HTML table, which wraps and scrolls with the page, and its ``repr`` is the same table
as aligned text (what a console shows, and what the book's tests compare). Book part:
Applications and Long context.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["Table"]


class Table:
    """A table of ``rows`` under ``header``, each cell already formatted as the reader
    should see it (a string, or a number printed with ``str``).

    Args:
        header: the column names; the first column is the rows' names.
        rows: one sequence per row, as long as ``header``.
        caption: an optional line above the table.

    Raises:
        ValueError: ``header`` is empty, or a row's length differs from the header's.
    """

    def __init__(
        self, header: Sequence[object], rows: Sequence[Sequence[object]], caption: str = ""
    ):
        if len(header) == 0:
            raise ValueError("header must name at least one column")
        cells = [[str(c) for c in row] for row in rows]
        for i, row in enumerate(cells):
            if len(row) != len(header):
                raise ValueError(
                    f"rows[{i}] has {len(row)} cells but header has {len(header)} columns"
                )
        self.header = [str(h) for h in header]
        self.rows = cells
        self.caption = str(caption)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in self.rows
        )
        caption = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        return (
            f'<table class="table posemb-result">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )

    def __repr__(self) -> str:
        columns = list(zip(self.header, *self.rows, strict=True))
        widths = [max(len(c) for c in col) for col in columns]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest]).rstrip()

        out = [self.caption] if self.caption else []
        out += [line(self.header), line(["-" * w for w in widths])]
        out += [line(row) for row in self.rows]
        return "\n".join(out)
