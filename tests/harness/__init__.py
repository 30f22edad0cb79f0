"""Reusable test harness: wheels built in code, a real local index, real base environments.

Import it as ``harness`` (tests/ is on sys.path under pytest), e.g.
``from harness.wheels import WheelSpec``.
"""
