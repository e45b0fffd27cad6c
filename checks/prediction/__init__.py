"""Prediction distribution: scores, decisions, fallbacks and calibration of the model's outputs."""
