"""Unit change: a numeric column's scale or offset changed (x1000, percent -> fraction, C -> F...)."""
