"""`make test` runs with `--dist loadgroup`: the tests of one `xdist_group`
run on one worker, so the session fixtures they share (the evaluated sweep,
the shapes programs) are built once. A pytest / pytest-xdist pair that ignores
the groups still passes every test, only slower, so this checks the grouping
itself."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("group-check")


def test_a_tests_xdist_group_takes_effect(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run by pytest-xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@group-check"), (
        f"{request.node.nodeid}: pytest-xdist did not put this test in its group (pytest 9 ignores the groups; "
        "pyproject.toml pins pytest < 9)")
