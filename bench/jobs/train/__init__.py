"""Training the shapes preset's models (VQGAN, DalleBart, CLIP) on the world with optax.
Never imported by the benchmark itself: the trained checkpoints are committed."""
