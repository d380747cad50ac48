"""What the agent and the collector share: config schema and units, state files, the HTTP
listener and its web config, remote-write encoding and posting, enrolment codes, CLI exit codes.

Nothing here imports ``agent`` or ``collector``.
"""

__version__ = "0.1.0"
