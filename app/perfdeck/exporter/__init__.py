"""``perfdeck serve``'s engine room: Prometheus naming, the exposition collector, the agent loop and
its HTTP server. Pure Python, no Qt (a test enforces it), no per-family code: everything is driven
by the series and counter specs the collectors declare (see docs/prometheus.md)."""
