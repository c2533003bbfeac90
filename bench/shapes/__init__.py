"""The `shapes` world: a tiny text-to-image world whose truth is known.

Scenes of one to three flat-coloured shapes drawn on the real geometry's
16x16 grid of 16-pixel cells (one VQGAN token per cell), captions made from
them with templates, and a checker that reads an image back into cells and
scores it against its caption. Pure NumPy; the models trained on it live in
`bench.jobs.train`."""
