"""commune-agent: the monitoring agent that runs on each commune's LAN nodes."""

__version__ = "0.1.0"
