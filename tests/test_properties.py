"""Properties of the pure parsers and planners, over inputs Hypothesis makes
up: any sweep file, axis list, threshold or prompt file either gives a valid
value or is refused with BenchError (never another exception); batch plans
cover every (prompt, sample) pair once; point ids are stable and follow the
settings. Example counts are bounded so the module runs in seconds."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.base.choices import DTYPES, PARALLEL_MODES
from bench.base.errors import BenchError
from bench.core.batching import plan_batches
from bench.data.prompt_sets import read_prompt_file
from bench.jobs.compare.thresholds import Thresholds, parse_threshold, parse_thresholds_text
from bench.jobs.sweep.spec import AXES, SweepDefinition, parse_list, read_sweep_file

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
axis_names = st.sampled_from(list(AXES))
keys = st.one_of(axis_names, st.sampled_from(["grid", "zip", "points"]), st.text(max_size=8))
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.lists(st.lists(scalars, max_size=2), max_size=2))
axis_tables = st.dictionaries(keys, values, max_size=4)
documents = st.one_of(
    st.fixed_dictionaries({}, optional={"grid": st.one_of(axis_tables, scalars),
                                        "zip": st.one_of(axis_tables, st.lists(axis_tables, max_size=3), scalars)}),
    st.dictionaries(keys, st.one_of(values, axis_tables), max_size=3),
    values,
)


def _toml(document) -> str:
    """A TOML rendering of tables of arrays (JSON's arrays, strings and numbers
    are TOML's, mostly; where they are not, the file does not parse, which the
    property also covers)."""
    if not isinstance(document, dict):
        return json.dumps(document)
    lines = []
    for section, table in document.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(str(section))}]")
            lines += [f"{json.dumps(str(k))} = {json.dumps(v)}" for k, v in table.items()]
        elif isinstance(table, list) and all(isinstance(t, dict) for t in table) and table:
            for t in table:
                lines.append(f"[[{json.dumps(str(section))}]]")
                lines += [f"{json.dumps(str(k))} = {json.dumps(v)}" for k, v in t.items()]
        else:
            lines.insert(0, f"{json.dumps(str(section))} = {json.dumps(table)}")
    return "\n".join(lines) + "\n"


def _check_definition(grid: dict, groups: tuple) -> None:
    """What a parsed sweep file promises: known axes, valid values, equal zip lengths, points to run."""
    for table in (grid, *groups):
        for name, vals in table.items():
            assert name in AXES and len(vals) >= 1
            for value in vals:
                assert AXES[name].value(value) == value
    for group in groups:
        assert len({len(v) for v in group.values()}) == 1
    points = SweepDefinition(grid=grid, zip=groups).points()
    assert points
    for point in points:
        assert set(point.settings) == set(AXES)
        assert point.settings["parallel"] in PARALLEL_MODES and point.settings["dtype"] in DTYPES


def _parse_file(text: str | bytes, suffix: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"sweep{suffix}"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        return read_sweep_file(path)


def _parses_or_refuses(text, suffix: str) -> None:
    try:
        grid, groups = _parse_file(text, suffix)
    except BenchError as e:
        assert str(e).startswith("--")
        return
    _check_definition(grid, groups)


@SETTINGS
@given(documents)
def test_any_yaml_sweep_file_parses_or_is_refused(document):
    _parses_or_refuses(yaml.safe_dump(document, allow_unicode=True), ".yaml")


@SETTINGS
@given(documents)
def test_any_toml_sweep_file_parses_or_is_refused(document):
    _parses_or_refuses(_toml(document), ".toml")


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=60), st.binary(max_size=60)), st.sampled_from([".toml", ".yaml"]))
@example(text=b"?", suffix=".yaml")  # YAML's {None: None}: a section name that is not text (found by this test)
@example(text="1: [2]\nnull: {}\n", suffix=".yaml")
def test_any_text_as_a_sweep_file_parses_or_is_refused(text, suffix):
    _parses_or_refuses(text, suffix)


@SETTINGS
@given(axis_names, st.one_of(st.text(max_size=30), st.lists(st.sampled_from(
    ["1", "0", "-1", "0.5", "2", "1e3", "nan", "inf", "single", "pmap", "sharded", "auto", "float32", "bfloat16",
     " ", "", "x", "2147483648", "3.0"]), max_size=5).map(",".join)))
def test_any_axis_list_parses_or_is_refused(name, text):
    try:
        parsed = parse_list(name, text)
    except BenchError as e:
        assert f"--{AXES[name].option}" in str(e)
        return
    assert parsed and all(AXES[name].value(v) == v for v in parsed)  # NaN would fail here: it is refused
    _check_definition({name: parsed}, ())


thresholds = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True),
                       st.text(max_size=8), st.sampled_from(["5%", "0.05", "off", "none", "100%", "-1%", "inf", "1",
                                                             " 2.5 % ", "nan%"]))


@SETTINGS
@given(st.sampled_from(Thresholds.names()), thresholds)
def test_any_threshold_parses_or_is_refused(name, raw):
    try:
        value = parse_threshold(name, raw)
    except BenchError as e:
        assert name.replace("_", "-") in str(e)
        return
    assert value is None or (math.isfinite(value) and value >= 0)
    if value is not None and name == "max_throughput_drop":
        assert value < 1


@SETTINGS
@given(st.dictionaries(st.one_of(st.sampled_from(Thresholds.names()), st.text(max_size=6)), thresholds, max_size=3),
       st.booleans())
def test_any_thresholds_file_parses_or_is_refused(table, as_yaml):
    text = (yaml.safe_dump(table) if as_yaml
            else "".join(f"{json.dumps(str(k))} = {json.dumps(v)}\n" for k, v in table.items()))
    try:
        values = parse_thresholds_text(text, as_yaml, "t")
    except BenchError as e:
        assert str(e).startswith("--thresholds")
        return
    assert set(values) <= set(Thresholds.names())


cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
prompt_texts = {
    ".txt": st.lists(cells, max_size=5).map("\n".join),
    ".tsv": st.lists(st.lists(cells, min_size=1, max_size=3).map("\t".join), max_size=5).flatmap(
        lambda rows: st.sampled_from(["Prompt\tCategory\tChallenge", "Prompt", "Text\tCategory", ""]).map(
            lambda header: "\n".join([header, *rows]))),
    ".csv": st.lists(st.lists(cells, min_size=1, max_size=2).map(",".join), max_size=5).flatmap(
        lambda rows: st.sampled_from(["Prompts,Category", "Prompt", "Text", ""]).map(
            lambda header: "\n".join([header, *rows]))),
    ".json": st.one_of(
        st.lists(st.one_of(st.fixed_dictionaries({"caption": st.one_of(cells, st.integers())}),
                           st.dictionaries(st.text(max_size=4), cells, max_size=2)), max_size=4).map(
            lambda annotations: json.dumps({"annotations": annotations})),
        st.text(max_size=30)),
}


@SETTINGS
@given(st.sampled_from(list(prompt_texts)).flatmap(lambda suffix: st.tuples(st.just(suffix),
                                                                             prompt_texts[suffix])))
def test_any_prompt_file_reads_or_is_refused(suffix_and_text):
    suffix, text = suffix_and_text
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"prompts{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            prompt_set = read_prompt_file(path)
        except BenchError as e:
            assert str(e).startswith("--prompts")
            return
    assert prompt_set.prompts
    assert all(p == p.strip() and p for p in prompt_set.prompts)
    for labels in (prompt_set.categories, prompt_set.challenges):
        assert labels is None or len(labels) == len(prompt_set.prompts)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([".txt", ".tsv", ".csv", ".json"]), st.binary(max_size=40))
def test_any_bytes_as_a_prompt_file_read_or_are_refused(suffix, data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"prompts{suffix}"
        path.write_bytes(data)
        try:
            assert read_prompt_file(path).prompts
        except BenchError:
            pass


@SETTINGS
@given(st.integers(-1, 40), st.integers(-1, 9), st.integers(-1, 70))
def test_a_batch_plan_covers_every_pair_once_padding_only_at_the_end(prompts, samples, batch):
    if min(prompts, samples, batch) < 1:
        with pytest.raises(ValueError):
            plan_batches(prompts, samples, batch)
        return
    plan = plan_batches(prompts, samples, batch)
    assert all(len(b.prompt_index) == len(b.sample_index) == batch for b in plan)
    assert all(b.valid == batch for b in plan[:-1]) and 1 <= plan[-1].valid <= batch
    pairs = [(int(p), int(s)) for b in plan for p, s in zip(b.prompt_index[:b.valid], b.sample_index[:b.valid])]
    assert sorted(pairs) == [(p, s) for p in range(prompts) for s in range(samples)]
    assert len(pairs) == len(set(pairs))
    last = plan[-1]  # padding repeats the last real pair, so it decodes something already kept
    assert {(int(p), int(s)) for p, s in zip(last.prompt_index[last.valid:], last.sample_index[last.valid:])} <= {
        (int(last.prompt_index[last.valid - 1]), int(last.sample_index[last.valid - 1]))}


axis_values = {
    "temperature": st.sampled_from([0.5, 1.0, 1.5]), "top_k": st.sampled_from([0, 5, 50]),
    "top_p": st.sampled_from([0.9, 1.0]), "cond_scale": st.sampled_from([1.0, 3.0, 10.0]),
    "batch_per_device": st.sampled_from([1, 2]), "devices": st.sampled_from([1, 2, 4]),
    "parallel": st.sampled_from(["auto", *PARALLEL_MODES]), "dtype": st.sampled_from(list(DTYPES)),
    "seed": st.integers(0, 2**31 - 1),
}
grids = st.dictionaries(st.sampled_from(list(AXES)), st.just(None), min_size=1, max_size=3).flatmap(
    lambda names: st.fixed_dictionaries({n: st.lists(axis_values[n], min_size=1, max_size=3).map(tuple)
                                         for n in names}))


@SETTINGS
@given(grids)
def test_point_ids_are_stable_and_follow_the_settings(grid):
    definition = SweepDefinition(grid=grid)
    points = definition.points()
    again = SweepDefinition.from_json(json.loads(json.dumps(definition.to_json()))).points()
    assert [p.point_id for p in points] == [p.point_id for p in again]  # stable through run.json
    ids = [p.point_id for p in points]
    assert len(set(ids)) == len(ids)
    digests: dict[str, str] = {}
    for p in points:
        key = json.dumps(p.settings, sort_keys=True)
        digest = p.point_id.split("-", 1)[1]
        assert digests.setdefault(key, digest) == digest  # equal settings, equal hash
    assert len(set(digests.values())) == len(digests)  # different settings, different hash
