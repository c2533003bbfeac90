"""The family-wise rule: one significance level for every tested decision of
one `compare` call. Pure.

Deciding each point and metric alone at α fails an unchanged 20-point sweep
in about a third of comparisons. Holm's step-down procedure keeps the chance
of any false regression among the m tests at or below α without assuming
the tests independent (the points of one run share the process's offset, so
they are not): sort the p-values, reject the k-th smallest while
p(k) <= α / (m - k + 1), stop at the first that is not. It rejects
everything Bonferroni (α / m) does and more. Gates decided by a threshold
alone (compile time, memory, FID, the in-pipeline CLIP score, a failed
point) are not tests and are not counted."""

from __future__ import annotations

from typing import Sequence

METHOD = "Holm–Bonferroni"


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Holm's procedure rejects at family-wise level `alpha`, in input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, index in enumerate(order):
        if p_values[index] > alpha / (m - rank):
            break
        rejected[index] = True
    return rejected


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (reject where adjusted <= alpha), in input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    m = len(p_values)
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
