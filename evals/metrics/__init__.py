"""One module per quality metric, each defining its `Metric` entry (or the
entries of one feature family); evals/registry.py lists them."""
