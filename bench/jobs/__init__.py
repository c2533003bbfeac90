"""The jobs a command runs, over the core, the metrics and the results: sweep, evaluate, report,
compare, loadgen, accelerator, train (the shapes models)."""
