"""Sub-commands of the ``perfdeck`` command line.

Each module defines ``HELP`` (one line), ``configure(parser)`` and ``run(args) -> int``, and must
not import Qt at module level: ``perfdeck doctor`` and ``perfdeck record`` run on servers.
"""
