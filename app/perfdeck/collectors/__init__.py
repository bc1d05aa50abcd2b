"""Metric-family collectors. Each family is one module; ``perfdeck.model.registry`` lists them."""
