"""`dalle-bench sweep`: a definition (spec), a results store (store, schema),
and the loop that measures each point (execute)."""
