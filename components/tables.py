"""The one way pages draw a table: columns, rows of values or components, numbers right-aligned."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dash_bootstrap_components as dbc
from dash import html


@dataclass(frozen=True)
class Column:
    title: str
    numeric: bool = False  # right-aligned, as figures are read


def data_table(columns: Sequence[Column | str], rows: Iterable[Sequence], *, table_id: str,
               header: bool = True, row_classes: Sequence[str | None] | None = None, **options) -> dbc.Table:
    """A Bootstrap table. Each row is a sequence of cells, one per column: text, numbers already formatted,
    or components (badges, buttons). ``header=False`` draws the first column as row headings instead of a
    header row (a table of named figures). ``options`` go to ``dbc.Table`` (size, striped, hover, style...)."""
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    classes = list(row_classes) if row_classes is not None else None
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, (col, value) in enumerate(zip(cols, row, strict=True)):
            align = "text-end" if col.numeric else None
            cells.append(html.Th(value, className=align) if not header and j == 0 else html.Td(value, className=align))
        body.append(html.Tr(cells, className=classes[i] if classes else None))
    parts = [html.Tbody(body)]
    if header:
        parts.insert(0, html.Thead(html.Tr([html.Th(c.title, className="text-end" if c.numeric else None)
                                            for c in cols])))
    return dbc.Table(parts, id=table_id, **{"size": "sm", **options})
