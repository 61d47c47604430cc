"""Replay simulator and control-quality benchmark for wallbox_balancer (plain CPython tools)."""
