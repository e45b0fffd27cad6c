"""Vigil core: config schema, the two stores, clocks and ids."""
