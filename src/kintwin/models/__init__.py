"""Biomechanical models: the built-in skeleton, OpenSim import, and the MuJoCo builder."""
