"""The documentation: the generated pages equal what the code writes now,
every page is reachable from the README, and every link leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from bench.docs import DOCS, PAGES, stale_pages, write_pages
from tests.conftest import REPO

LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", text, flags=re.M)}


def test_the_generated_pages_are_what_the_code_writes():
    assert not stale_pages(), f"stale generated pages: {stale_pages()}; run `make docs` and commit them"


def test_a_changed_schema_or_option_makes_its_page_stale(tmp_path):
    write_pages(tmp_path)
    assert stale_pages(tmp_path) == []
    schema_page = tmp_path / "results-schema.md"
    schema_page.write_text(schema_page.read_text().replace("| `compile_s` |", "| `compile_seconds` |"))
    (tmp_path / "cli.md").unlink()
    assert stale_pages(tmp_path) == list(PAGES)


def test_every_page_is_reachable_from_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = {target.split("#")[0] for target in LINK.findall(readme)}
    missing = [f"docs/{page.name}" for page in sorted(DOCS.glob("*.md")) if f"docs/{page.name}" not in linked]
    assert not missing, f"README does not link {missing}"


def test_every_relative_link_and_anchor_exists():
    broken = []
    for page in _pages():
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_anchor_rule_is_githubs():
    assert _slug("The results store: `results/<run-id>/`") == "the-results-store-resultsrun-id"
    assert _slug("Scenario rows (`scenarios.parquet`, scenario schema version 1)") == \
        "scenario-rows-scenariosparquet-scenario-schema-version-1"



def _command_paths(command, path: tuple[str, ...]):
    """Every command's path under `command`, sub-commands of sub-commands included."""
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name)
        yield from _command_paths(sub, (*path, name))


def test_the_cli_page_has_a_section_for_every_command_and_sub_command():
    from bench.cli import cli
    from bench.docs import cli_page

    page = cli_page()
    paths = list(_command_paths(cli, ("dalle-bench",)))
    missing = [" ".join(path) for path in paths if f"\n{'#' * len(path)} `{' '.join(path)}`\n" not in page]
    assert not missing, f"docs/cli.md lacks {missing}"
    assert ("dalle-bench", "metrics", "fid") in paths and ("dalle-bench", "loadgen", "check") in paths


def test_the_cli_page_goes_down_groups_inside_groups(monkeypatch):
    import click

    import bench.cli
    from bench.docs import cli_page

    leaf = click.Command("leaf", help="A command two groups down.")
    inner = click.Group("inner", commands=[click.Group("deeper", commands=[leaf])])
    monkeypatch.setattr(bench.cli, "cli", click.Group("outer", commands=[inner]))
    page = cli_page()
    for heading in ("## `dalle-bench inner`", "### `dalle-bench inner deeper`", "#### `dalle-bench inner deeper leaf`"):
        assert f"\n{heading}\n" in page
    assert "Usage: dalle-bench inner deeper leaf [OPTIONS]" in page
