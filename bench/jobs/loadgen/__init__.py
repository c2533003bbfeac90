"""`dalle-bench loadgen`: MLPerf's load scenarios on the real LoadGen. LoadGen
generates the load and judges it; the system under test (`system.py`, fed by
`dispatcher.py`) knows only the compiled pipeline; the logs are parsed after
the test (`logs.py`) into rows of `scenarios.parquet`."""
