"""Dynamics from kinematics: inverse dynamics with force plates (``inverse_dynamics``) and with
ground contact estimated from the kinematics alone (``contact_estimation``).

Import from the submodules, e.g. ``from kintwin.dynamics.inverse_dynamics import inverse_dynamics``.
"""
