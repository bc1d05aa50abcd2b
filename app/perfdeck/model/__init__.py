"""The pure-Python model: collectors' protocol, snapshots, history, units.

Nothing under ``perfdeck.model`` or ``perfdeck.collectors`` may import Qt; a test enforces it,
so the headless recorder and ``perfdeck doctor`` run on servers without a display.
"""
