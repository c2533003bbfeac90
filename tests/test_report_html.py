"""`dalle-bench report RUN_DIR --html`: the page is built from the shared
evaluated tiny sweep (every plot drawn from its real rows and files), then
opened from disk in a real headless Chromium: no console error, every
section there and visible, no request leaving the file, a screenshot that
is not blank. Plus the pure parts on hand-made data: the Pareto front and
the banner rules."""

from __future__ import annotations

import io
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from bench.jobs.report.html.banner import DEFAULT_WEIGHTS_ID, banner_lines
from bench.jobs.report.html.pareto import pareto_front
from bench.results.points_schema import NAMES
from tests.browser import CHROMIUM, Browser, chromium_path

# One pytest-xdist worker runs the modules that share the evaluated sweep (built once per worker).
pytestmark = pytest.mark.xdist_group("evaluated-sweep")

# `make browser` installs Debian's Chromium where it can (as root); elsewhere these two are skipped, saying why.
needs_browser = pytest.mark.skipif(chromium_path() is None,
                                   reason=f"no '{CHROMIUM}' on PATH (make browser installs Debian's package, which "
                                          "needs root; or set $CHROMIUM): the page is not opened in a browser")

SECTIONS = ["summary", "banner", "environment", "definition", "tables", "plots", "images"]
PLOTS = ["throughput", "scaling", "latency", "quality-cond-scale", "quality-temperature", "tradeoff"]
TABLES = ["table-points", "table-by-sampling-setting", "table-scaling-across-devices", "table-quality",
          "table-failed-points"]

# --- the Pareto front, on hand-made points (both coordinates maximised) ---

def test_pareto_front_keeps_the_points_nothing_beats_on_both():
    speed = [1.0, 2.0, 3.0, 2.5, 0.5]
    quality = [9.0, 8.0, 5.0, 4.0, 9.0]
    # (2.5, 4) is beaten by (3, 5); (0.5, 9) by (1, 9).
    assert pareto_front(speed, quality).tolist() == [True, True, True, False, False]


def test_pareto_front_keeps_exact_ties_and_drops_nan():
    assert pareto_front([1.0, 1.0, 0.5], [2.0, 2.0, 1.0]).tolist() == [True, True, False]
    assert pareto_front([1.0, np.nan, 0.5], [1.0, 5.0, 2.0]).tolist() == [True, False, True]
    assert pareto_front([3.0], [1.0]).tolist() == [True]
    assert pareto_front([], []).tolist() == []


def test_pareto_front_of_a_chain_is_its_best_point():
    x = np.arange(5.0)
    assert pareto_front(x, x).tolist() == [False, False, False, False, True]
    assert pareto_front(x, -x).all()  # a strict trade-off: every point is on the front


def test_pareto_front_refuses_mismatched_inputs():
    with pytest.raises(ValueError):
        pareto_front([1.0, 2.0], [1.0])


# --- banner rules ---

def _rows(**columns) -> pd.DataFrame:
    row = dict.fromkeys(NAMES)
    row.update({"status": "ok", "random_weights": False, **columns})
    return pd.DataFrame([row], columns=list(NAMES))


STANDARD = f"inception-v3-compat, weights {DEFAULT_WEIGHTS_ID} (torch-fidelity TF1-compatible bilinear)"


def test_no_banner_for_trained_weights_and_enough_images_from_the_standard_extractor():
    rows = _rows(fid=3.0, fid_biased=False, fid_images=5000, fid_reference_images=-1, feature_extractor=STANDARD)
    assert banner_lines(rows, {"preset": "mini", "weights": "pretrained"}) == []


def test_each_banner_rule():
    definition = {"preset": "mini"}
    assert "Random weights" in banner_lines(_rows(random_weights=True), definition)[0]
    assert "Random weights" in banner_lines(_rows(), {"preset": "tiny"})[0]
    few = _rows(fid=3.0, fid_biased=True, fid_images=100, fid_reference_images=50000, feature_extractor=STANDARD)
    assert banner_lines(few, definition) == [banner_lines(few, definition)[0]]
    assert "as few as 100 image(s)" in banner_lines(few, definition)[0]
    small_reference = _rows(fid=3.0, fid_biased=False, fid_images=5000, fid_reference_images=10,
                            feature_extractor=STANDARD)
    assert "as few as 10 image(s)" in banner_lines(small_reference, definition)[0]
    other = STANDARD.replace(DEFAULT_WEIGHTS_ID, "sha1-0123456789abcdef")
    substitute = _rows(fid=3.0, fid_biased=False, fid_images=5000, fid_reference_images=5000,
                       feature_extractor=other)
    [line] = banner_lines(substitute, definition)
    assert "Substitute feature extractor" in line and "sha1-0123456789abcdef" in line
    # A file checked to hold the standard weights is the standard extractor.
    assert banner_lines(substitute, definition, frozenset({"sha1-0123456789abcdef"})) == []


def test_points_that_do_not_fill_their_batches_get_a_banner():
    rows = _rows(point_id="000-abc", padded_rows=14, fid_images=5000)
    [line] = banner_lines(rows, {"preset": "mini"})
    assert line.startswith("Partly filled batches: 000-abc do not fill their batches")
    assert banner_lines(_rows(point_id="000-abc", padded_rows=0), {"preset": "mini"}) == []


# --- the page, from the shared evaluated sweep ---

@pytest.fixture(scope="module")
def html_report(evaluated_sweep, run_cli, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("html") / "run"
    shutil.copytree(evaluated_sweep, run_dir)  # the fixture is shared: never write into it
    proc = run_cli("report", run_dir, "--html", check=True)
    path = run_dir / "report" / "report.html"
    assert proc.stdout.strip() == str(path)
    assert (run_dir / "report" / "report.md").is_file() and (run_dir / "report" / "points.csv").is_file()
    return path


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("src", "href", "srcset", "data", "poster")]


def test_the_page_is_self_contained(html_report):
    text = html_report.read_text()
    assert not re.search(r"https?://", text, re.IGNORECASE)
    parser = _Links()
    parser.feed(text)
    assert parser.links and all(link.startswith(("data:image/", "#")) for link in parser.links), parser.links
    assert "<link" not in text and "@import" not in text and "url(" not in text
    assert len(text) < 3_000_000  # thumbnails, not the 256-px PNGs


@needs_browser
def test_the_page_in_a_headless_browser(html_report, evaluated_sweep, tmp_path):
    rows = pd.read_parquet(evaluated_sweep / "points.parquet")
    with Browser() as browser:
        load = browser.open(html_report)
        assert load.errors == [] and load.console == []
        assert load.requests[0] == html_report.resolve().as_uri()
        assert all(url.startswith("data:") for url in load.requests[1:]), load.requests
        for section in SECTIONS + TABLES + [f"plot-{p}" for p in PLOTS]:
            assert browser.evaluate(_visible(section)), f"#{section} is missing or not visible"
        # Every plot is drawn on this sweep (two values on every axis), and decoded by the browser.
        for plot in PLOTS:
            assert browser.evaluate(f"document.querySelectorAll('#plot-{plot} img').length") == 1, plot
            assert browser.evaluate(f"document.querySelector('#plot-{plot} img').naturalWidth") >= 600
        assert browser.evaluate("document.querySelectorAll('#plots .note').length") == 0
        # A grid per point: 2 prompts × 2 images, 128-px thumbnails, each with its score.
        for point_id in rows.point_id:
            thumbs = browser.evaluate(f"Array.from(document.querySelectorAll('#grid-{point_id} img'))"
                                      ".map(i => [i.naturalWidth, i.complete])")
            assert thumbs == [[128, True]] * 4, point_id
            assert browser.evaluate(f"document.querySelectorAll('#grid-{point_id} figcaption').length") == 4
        assert browser.evaluate("document.images.length") == len(PLOTS) + 4 * len(rows)
        banner = browser.evaluate("document.getElementById('banner').innerText")
        for reason in ("Random weights", "Too few images", "Substitute feature extractor"):
            assert reason in banner
        assert browser.evaluate("document.querySelectorAll('#table-points tbody tr').length") == len(rows)
        # The inline script sorts a table by the clicked column, ascending then descending.
        column = "Array.from(document.querySelectorAll('#table-points th')).findIndex(h => " \
                 "h.textContent === 'images_per_s')"
        values = f"Array.from(document.querySelectorAll('#table-points tbody tr')).map(r => " \
                 f"Number(r.cells[{column}].textContent))"
        header = f"document.querySelectorAll('#table-points th')[{column}]"
        browser.evaluate(f"{header}.click()")
        assert browser.evaluate(values) == sorted(rows.images_per_s.round(4))
        browser.evaluate(f"{header}.click()")
        assert browser.evaluate(values) == sorted(rows.images_per_s.round(4), reverse=True)
        assert browser.activity().errors == []  # nothing raised by the clicks either
        shot = browser.screenshot()
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    (tmp_path / "report.png").write_bytes(shot)
    if os.environ.get("REPORT_SCREENSHOT"):  # to look at the page: REPORT_SCREENSHOT=/tmp/report-shot.png
        Path(os.environ["REPORT_SCREENSHOT"]).write_bytes(shot)
    pixels = np.asarray(image)
    assert image.width >= 1000 and image.height > 3000  # the whole page, not the viewport
    assert image.getcolors(maxcolors=1000) is None  # more than 1,000 colours: plots and images, not a blank
    assert (pixels.min(axis=2) < 235).mean() > 0.05  # a good share of the page is not white


def _visible(element_id: str) -> str:
    return (f"(() => {{ const e = document.getElementById('{element_id}'); if (!e) return false; "
            "const r = e.getBoundingClientRect(), s = getComputedStyle(e); "
            "return r.width > 0 && r.height > 0 && s.display !== 'none' && s.visibility !== 'hidden'; })()")


@needs_browser
def test_the_browser_check_sees_errors_and_outside_requests(tmp_path):
    # The checks above can fail: a page with a console error, an exception and a remote image.
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><body><img src='http://127.0.0.1:9/x.png'>"
                    "<script>console.error('broken'); undefined_function();</script></body>")
    with Browser(timeout=20) as browser:
        load = browser.open(page)
    assert any("broken" in e for e in load.errors) and any("undefined_function" in e for e in load.errors)
    assert "http://127.0.0.1:9/x.png" in load.requests


def test_a_plot_the_data_cannot_support_becomes_a_note(evaluated_sweep, tmp_path):
    """One device count and one condition scale: no scaling plot and no condition-scale plot, each
    replaced by one line; the cap on images holds."""
    from bench.jobs.report.html import HtmlOptions, write_html_report
    from bench.jobs.report.html.thumbnails import GridOptions

    run_dir = tmp_path / "run"
    shutil.copytree(evaluated_sweep, run_dir)
    table = pq.read_table(run_dir / "points.parquet")
    rows = table.to_pandas()
    keep = (rows.devices == 1) & (rows.cond_scale == 3.0)
    pq.write_table(table.filter(pa.array(keep.to_numpy())), run_dir / "points.parquet")
    kept = rows[keep]
    path = write_html_report(run_dir, HtmlOptions(grid=GridOptions(max_prompts=1, max_samples=1)))
    text = path.read_text()
    for plot, reason in (("scaling", "one device count only (1)"), ("quality-cond-scale", "one condition scale")):
        block = re.search(rf"<figure class='plot' id='plot-{plot}'>(.*?)</figure>", text).group(1)
        assert "<img" not in block and reason in block
    assert text.count("alt='prompt ") == len(kept)  # one thumbnail per point under a 1 × 1 cap
    assert "<img src='data:image/png" in re.search(r"id='plot-throughput'>(.*?)</figure>", text).group(1)


def test_a_run_with_no_finished_point_gets_a_page_of_notes(evaluated_sweep, tmp_path):
    from bench.jobs.report.html import write_html_report

    run_dir = tmp_path / "run"
    shutil.copytree(evaluated_sweep, run_dir)
    (run_dir / "points.parquet").unlink()
    (run_dir / "prompt_scores.parquet").unlink()
    text = write_html_report(run_dir).read_text()
    for plot in PLOTS:
        block = re.search(rf"<figure class='plot' id='plot-{plot}'>(.*?)</figure>", text).group(1)
        assert "<img" not in block and "class='note'" in block, plot
    assert "<img" not in text and "No point finished" in text


def test_html_report_of_a_folder_that_is_not_a_run(cli_inprocess, tmp_path):
    proc = cli_inprocess("report", tmp_path, "--html")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"Error: {tmp_path} is not a dalle-bench run (no run.json)"]
    assert not (tmp_path / "report").exists()
