"""Segment checks: per-segment tests under one model-level false-alarm budget, and the
decomposition of a model-level change over segments."""
