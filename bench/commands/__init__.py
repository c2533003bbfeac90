"""The command layer: one module per `dalle-bench` command, between the thin
Click CLI and the sub-packages. A command wires the parts a job needs (the
sweep, the metrics, the reports, LoadGen, the compare gates); the parts do not
import each other's commands, so the package graph has no cycle
(tests/test_layering.py)."""
