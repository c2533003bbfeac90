"""The results model shared by every table a command writes: the columns
that a sweep's points and a LoadGen run's scenarios have in common, defined
once (columns.py), and the one way result tables are read and replaced on
disk (files.py)."""
