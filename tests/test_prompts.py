"""Prompt sets: the shipped ones, and every file format a user can give."""

from __future__ import annotations

import json

import pytest

from bench.base.errors import BenchError
from bench.data.prompt_sets import load_prompt_set, prompt_sets


def test_shipped_sets():
    assert {"demo", "curated"} <= set(prompt_sets())
    demo = load_prompt_set("demo")
    assert demo.prompts == ("sunset over a lake in the mountains", "the Eiffel tower landing on the moon")
    curated = load_prompt_set("curated")
    assert len(curated.prompts) >= 200 and len(set(curated.prompts)) == len(curated.prompts)
    assert {"animals", "people", "artefacts", "scenes", "abstract"} <= set(curated.categories)
    assert {"counting", "spatial relations", "colour", "style", "long text", "simple detail"} <= set(
        curated.challenges)
    lengths = sorted(len(p.split()) for p in curated.prompts)
    assert lengths[0] <= 2 and lengths[-1] >= 25  # from short to complex


def test_formats(tmp_path):
    (tmp_path / "p.txt").write_text("# comment\na cat\n\n  a dog  \n")
    (tmp_path / "parti.tsv").write_text("Prompt\tCategory\tChallenge\tNote\na cat\tAnimals\tSimple Detail\t\n"
                                        "two dogs\tAnimals\tQuantity\tx\n")
    (tmp_path / "drawbench.csv").write_text('Prompts,Category\n"a red cube, on a table",Colors\na tree,Simple\n')
    (tmp_path / "captions_val2017.json").write_text(json.dumps(
        {"images": [], "annotations": [{"image_id": 1, "id": 5, "caption": "A man riding a horse. "},
                                       {"image_id": 2, "id": 6, "caption": "Two birds."}]}))
    assert load_prompt_set(str(tmp_path / "p.txt")).prompts == ("a cat", "a dog")
    parti = load_prompt_set(str(tmp_path / "parti.tsv"))
    assert parti.prompts == ("a cat", "two dogs") and parti.categories == ("Animals", "Animals")
    assert parti.challenges == ("Simple Detail", "Quantity")
    drawbench = load_prompt_set(str(tmp_path / "drawbench.csv"))
    assert drawbench.prompts == ("a red cube, on a table", "a tree") and drawbench.challenges is None
    assert load_prompt_set(str(tmp_path / "captions_val2017.json")).prompts == ("A man riding a horse.", "Two birds.")
    # MLPerf's COCO-2014 subset as its text_to_image/tools/coco.py writes it (the mini and mega benchmarks)
    (tmp_path / "captions.tsv").write_text("id\timage_id\tcaption\theight\twidth\tfile_name\tcoco_url\n"
                                           "48\t318556\tA very clean bathroom.\t640\t480\tCOCO_val2014_000000318556.jpg\tu\n"
                                           "67\t116100\tA panoramic view of a kitchen.\t427\t640\tCOCO_val2014_000000116100.jpg\tv\n")
    assert load_prompt_set(str(tmp_path / "captions.tsv")).prompts == ("A very clean bathroom.",
                                                                       "A panoramic view of a kitchen.")


@pytest.mark.parametrize("name,content,message", [
    ("empty.txt", "#\n\n", "has no prompts"),
    ("bad.tsv", "Text\tCategory\nx\ty\n", "has no Prompt or caption column"),
    ("bad.json", '{"images": []}', "is not a COCO captions file"),
])
def test_bad_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(BenchError, match=message):
        load_prompt_set(str(tmp_path / name))


def test_unknown_set_and_missing_file():
    with pytest.raises(BenchError, match="did you mean 'curated'"):
        load_prompt_set("curatd")
    with pytest.raises(BenchError, match="file not found"):
        load_prompt_set("/no/such/prompts.txt")


def test_prompts_commands(cli_inprocess):
    listed = cli_inprocess("prompts", "list", check=True).stdout
    assert "curated\t240 prompts\tcategory, challenge" in listed
    shown = cli_inprocess("prompts", "show", "curated", check=True).stdout.splitlines()
    assert shown[1] == "a blue fox\tanimals\tcolour"
    proc = cli_inprocess("prompts", "show", "nope")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("Error: --prompts: unknown prompt set 'nope'")
