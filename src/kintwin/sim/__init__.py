"""Simulation back ends (CPU MuJoCo, MJX) behind one batched interface (``interface.VecEnv``)."""
