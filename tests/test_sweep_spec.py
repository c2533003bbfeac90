"""Sweep definitions: axes, grid and zip expansion, sweep files, point ids."""

from __future__ import annotations

import pytest

from bench.jobs.sweep.spec import AXES, SpecError, SweepDefinition, parse_list, read_sweep_file


def test_defaults_give_one_point_with_every_axis():
    (point,) = SweepDefinition().points()
    assert set(point.settings) == set(AXES)
    assert point.settings["parallel"] == "single" and point.settings["devices"] == 1


def test_grid_is_a_cartesian_product_in_axis_order():
    d = SweepDefinition(grid={"cond_scale": (1.0, 3.0), "temperature": (0.5, 1.0, 2.0)})
    points = d.points()
    assert len(points) == 6
    # temperature comes before cond_scale in the axis table, so it varies slowest
    assert [(p.settings["temperature"], p.settings["cond_scale"]) for p in points[:3]] == [
        (0.5, 1.0), (0.5, 3.0), (1.0, 1.0)]
    assert [p.index for p in points] == list(range(6))


def test_zip_pairs_values_and_multiplies_with_the_grid():
    d = SweepDefinition(grid={"seed": (0, 1)}, zip=({"devices": (1, 2, 4), "batch_per_device": (8, 4, 2)},))
    points = d.points()
    assert len(points) == 6
    assert {(p.settings["devices"], p.settings["batch_per_device"]) for p in points} == {(1, 8), (2, 4), (4, 2)}
    assert [p.settings["parallel"] for p in points[:3]] == ["single", "sharded", "sharded"]  # auto
    assert d.max_devices() == 4


def test_point_ids_are_stable_and_distinct():
    d = SweepDefinition(grid={"temperature": (0.5, 1.0)})
    assert [p.point_id for p in d.points()] == [p.point_id for p in d.points()]
    assert len({p.point_id for p in d.points()}) == 2
    assert d.points()[1].point_id.startswith("001-")


def test_command_line_lists_are_typed_and_checked():
    assert parse_list("temperature", "0.5, 1") == (0.5, 1.0)
    assert parse_list("top_k", "0,50") == (0, 50)
    assert parse_list("parallel", "pmap,sharded") == ("pmap", "sharded")
    for name, text, message in [("top_k", "1.5", "not an integer"), ("top_p", "0", "(0, 1]"),
                                ("temperature", "", "empty list"), ("dtype", "fp8", "must be one of"),
                                ("devices", "0", ">= 1"), ("batch_per_device", "-1", ">= 1")]:
        with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_list(name, text)


def test_unknown_axis_suggests_the_close_one():
    with pytest.raises(SpecError, match="did you mean 'cond_scale'"):
        parse_list("cond_scal", "1")


def test_toml_and_yaml_files_read_the_same(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text("[grid]\ntemperature = [0.5, 1.0]\ntop_k = 50\n[zip]\ndevices = [1, 2]\nparallel = ['single', 'pmap']\n")
    yaml = tmp_path / "s.yaml"
    yaml.write_text("grid:\n  temperature: [0.5, 1.0]\n  top_k: 50\nzip:\n  devices: [1, 2]\n  parallel: [single, pmap]\n")
    assert read_sweep_file(toml) == read_sweep_file(yaml) == (
        {"temperature": (0.5, 1.0), "top_k": (50,)}, ({"devices": (1, 2), "parallel": ("single", "pmap")},))


def test_several_zip_groups_and_repeated_axes(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("[[zip]]\ndevices = [1, 2]\n[[zip]]\nseed = [0, 1]\ntop_k = [0, 5]\n")
    grid, groups = read_sweep_file(f)
    assert len(groups) == 2 and len(SweepDefinition(grid=grid, zip=groups).points()) == 4
    f.write_text("[grid]\nseed = [0]\n[zip]\nseed = [1]\n")
    with pytest.raises(SpecError, match="more than once"):
        read_sweep_file(f)
    f.write_text("[grids]\nseed = [0]\n")
    with pytest.raises(SpecError, match="unknown section"):
        read_sweep_file(f)


def test_definition_round_trips_through_json_and_reports_differences():
    d = SweepDefinition(grid={"temperature": (0.5,)}, zip=({"devices": (1, 2)},), prompts=("a",), num_images=3)
    again = SweepDefinition.from_json(d.to_json())
    assert again == d and again.fingerprint() == d.fingerprint()
    other = SweepDefinition.from_json({**d.to_json(), "num_images": 4})
    assert d.differences(other) == ["num_images"]


def test_seeds_must_fit_the_results_column():
    assert parse_list("seed", "0,2147483647") == (0, 2**31 - 1)
    with pytest.raises(SpecError, match=r"--seed must be in \[0, 2\^31\)"):
        parse_list("seed", "3000000000")


def test_a_zip_that_is_not_a_table_is_refused(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("zip:\n")
    with pytest.raises(SpecError, match="'zip' must be a table"):
        read_sweep_file(f)
