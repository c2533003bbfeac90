"""`dalle-bench accelerator`: one prepared, time-boxed benchmark of whatever
backend JAX finds (matrix.toml), and its CPU dry run (`--smoke`)."""
