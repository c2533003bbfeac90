"""Measuring, model-agnostic: the timer, latency statistics, device and host memory, the roofline
formulas and peak measurement, the compilation log."""
