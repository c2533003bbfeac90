"""`dalle-bench prompts list|show`: the shipped prompt sets."""

from __future__ import annotations

from dataclasses import dataclass

import click


def run_list() -> None:
    """Every shipped set, a line each: name, prompt count, labels, file."""
    from bench.data.prompt_sets import prompt_sets, read_prompt_file

    for name, path in prompt_sets().items():
        prompt_set = read_prompt_file(path)
        labels = ", ".join(label for label, values in (("category", prompt_set.categories),
                                                       ("challenge", prompt_set.challenges)) if values)
        click.echo(f"{name}\t{len(prompt_set.prompts)} prompts\t{labels or 'no labels'}\t{path.name}")


@dataclass(frozen=True)
class ShowRequest:
    name: str
    """A set's name (prompts/) or a prompt file."""

    @classmethod
    def from_options(cls, name: str) -> ShowRequest:
        return cls(name)


def run_show(request: ShowRequest) -> None:
    """The set's prompts, one a line, each followed by its labels (tab-separated)."""
    from bench.data.prompt_sets import load_prompt_set

    prompt_set = load_prompt_set(request.name)
    for i, prompt in enumerate(prompt_set.prompts):
        labels = [values[i] for values in (prompt_set.categories, prompt_set.challenges) if values]
        click.echo("\t".join([prompt, *labels]))
