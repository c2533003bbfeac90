"""The bottom layer: small facts every other part may use and that use no
other part of the project."""
