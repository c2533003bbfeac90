"""The report page as one HTML string: pure assembly of content prepared
elsewhere (tables, embedded figures, thumbnails). Nothing is fetched: styles
and the small table-sorting script are inline, images are `data:` URIs.

Every section has an id (`summary`, `banner`, `environment`, `definition`,
`tables`, `plots`, `images`), as has every table (`table-<title>`), plot
(`plot-<name>`) and point grid (`grid-<point-id>`), for links and tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

import pandas as pd

from .thumbnails import PointImages


@dataclass(frozen=True)
class Plot:
    id: str
    title: str
    uri: str | None  # the embedded figure, or None with a `note` saying why it could not be drawn
    note: str | None = None
    caption: str = ""


@dataclass(frozen=True)
class Grid:
    label: str
    images: PointImages


@dataclass(frozen=True)
class Page:
    run_id: str
    summary: tuple[str, ...]
    banners: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    definition: tuple[tuple[str, str], ...]
    definition_json: str
    tables: tuple[tuple[str, pd.DataFrame], ...]
    plots: tuple[Plot, ...]
    prompts: tuple[str, ...]  # the prompts the grids show, in order
    grids: tuple[Grid, ...]
    images_note: str
    thumbnail_px: int


def table_id(title: str) -> str:
    return "table-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render(page: Page) -> str:
    body = [
        _summary(page),
        _banner(page.banners),
        _nav(page),
        _section("environment", "Environment", _key_values(page.environment)),
        _section("definition", "Sweep definition", _key_values(page.definition)
                 + f"<details><summary>run.json definition</summary><pre>{escape(page.definition_json)}</pre>"
                   "</details>"),
        _section("tables", "Tables", "".join(_table(title, table) for title, table in page.tables)),
        _section("plots", "Plots", "".join(_plot(plot) for plot in page.plots)),
        _section("images", "Images", _images(page)),
    ]
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>dalle-bench report: {escape(page.run_id)}</title><style>{STYLE}</style></head>\n"
            f"<body>{''.join(body)}<script>{SORT_SCRIPT}</script></body></html>\n")


def _summary(page: Page) -> str:
    lines = "".join(f"<p>{escape(line)}</p>" for line in page.summary)
    return f"<header id='summary'><h1>dalle-bench report: {escape(page.run_id)}</h1>{lines}</header>"


def _banner(lines: tuple[str, ...]) -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return (f"<div id='banner' class='banner' role='alert'><strong>Read these figures with care</strong>"
            f"<ul>{items}</ul></div>")


def _nav(page: Page) -> str:
    links = [("environment", "Environment"), ("definition", "Sweep definition"), ("tables", "Tables"),
             ("plots", "Plots"), ("images", "Images")]
    return "<nav>" + " · ".join(f"<a href='#{i}'>{t}</a>" for i, t in links) + "</nav>"


def _section(section_id: str, title: str, content: str) -> str:
    return f"<section id='{section_id}'><h2>{escape(title)}</h2>{content}</section>"


def _key_values(pairs: tuple[tuple[str, str], ...]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)
    return f"<table class='keys'>{rows}</table>"


def _table(title: str, table: pd.DataFrame) -> str:
    content = (table.to_html(index=False, na_rep="", border=0, classes="sortable")
               if not table.empty else "<p class='note'>(none)</p>")
    return f"<div class='table' id='{table_id(title)}'><h3>{escape(title)}</h3>{content}</div>"


def _plot(plot: Plot) -> str:
    if plot.uri is None:
        inner = f"<p class='note'>{escape(plot.note or 'not drawn')}</p>"
    else:
        caption = f"<figcaption>{escape(plot.caption)}</figcaption>" if plot.caption else ""
        inner = f"<img src='{plot.uri}' alt='{escape(plot.title)}'>{caption}"
    return f"<figure class='plot' id='plot-{plot.id}'><h3>{escape(plot.title)}</h3>{inner}</figure>"


def _images(page: Page) -> str:
    if not page.grids:
        return "<p class='note'>No point finished: no images.</p>"
    legend = "".join(f"<li value='{i}'>{escape(p)}</li>" for i, p in enumerate(page.prompts))
    grids = "".join(_grid(grid, page.thumbnail_px) for grid in page.grids)
    return (f"<p>{escape(page.images_note)}</p><ol class='prompts' start='0'>{legend}</ol>"
            f"<div class='grids'>{grids}</div>")


def _grid(grid: Grid, size: int) -> str:
    rows = []
    for p, (thumbs, evaluated) in enumerate(zip(grid.images.thumbnails, grid.images.prompt_scores)):
        head = f"P{p}" + (f"<br><span class='eval' title='evaluated mean CLIP score'>{evaluated:.2f}</span>"
                          if evaluated is not None else "")
        cells = "".join(_thumb(t, p, s, size) for s, t in enumerate(thumbs))
        rows.append(f"<tr><th>{head}</th>{cells}</tr>")
    point = escape(grid.images.point_id)
    return (f"<div class='point-grid' id='grid-{point}'><h3>{escape(grid.label)}</h3><code>{point}</code>"
            f"<table>{''.join(rows)}</table></div>")


def _thumb(thumb, prompt: int, sample: int, size: int) -> str:
    if thumb.data_uri is None:
        label = "missing" if thumb.problem in (None, "missing") else "unreadable"
        why = f" title='{escape(thumb.problem, quote=True)}'" if label == "unreadable" else ""
        return f"<td class='missing'{why} style='width:{size}px;height:{size}px'>{label}</td>"
    score = f"{thumb.clip_score:.2f}" if thumb.clip_score is not None else "–"
    return (f"<td><figure><img src='{thumb.data_uri}' width='{size}' height='{size}' "
            f"alt='prompt {prompt}, sample {sample}'><figcaption>{score}</figcaption></figure></td>")


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:1600px}
h1{font-size:1.5em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1em}
nav{margin:.8em 0}nav a{color:#1a5fb4}
.banner{background:#fff3cd;border:1px solid #e0b000;border-left:6px solid #e0a000;padding:.6em 1em;margin:1em 0}
.banner ul{margin:.3em 0 0 0;padding-left:1.2em}
table{border-collapse:collapse;font-size:.85em;margin:.3em 0}
td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right;vertical-align:top;white-space:nowrap}
table.keys td{white-space:normal}
th{background:#f4f4f4}table.keys th{text-align:left}table.keys td{text-align:left;font-family:monospace}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:hover{background:#e4e4e4}
th[data-order=asc]::after{content:" ▲"}th[data-order=desc]::after{content:" ▼"}
.table{overflow-x:auto}.note{color:#666;font-style:italic}
figure.plot{margin:1em 0}figure.plot img{max-width:100%;height:auto;border:1px solid #eee}
.grids{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}
.point-grid{border:1px solid #ddd;padding:.4em}.point-grid h3{margin:.1em 0}.point-grid code{font-size:.75em;color:#666}
.point-grid table{font-size:.75em}.point-grid td,.point-grid th{padding:2px;border:none;text-align:center}
.point-grid th{background:none;vertical-align:middle}.point-grid figure{margin:0}
.point-grid figcaption{font-family:monospace}.eval{color:#1a5fb4}.missing{color:#999;background:#f8f8f8}
ol.prompts{font-size:.85em}pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.8em}
"""

# Click a column header to sort by it; numbers as numbers, empty cells last.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable thead th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], column = th.cellIndex;
    var order = th.dataset.order === "asc" ? "desc" : "asc";
    table.querySelectorAll("thead th").forEach(function (other) { delete other.dataset.order; });
    th.dataset.order = order;
    var key = function (row) { return row.cells[column].textContent.trim(); };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var nx = Number(x), ny = Number(y);
      var cmp = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return order === "asc" ? cmp : -cmp;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""
