"""Hashpivot: plan a Bitcoin miner's pivot to AI compute (Pyomo + HiGHS)."""

__version__ = "0.2.0"
