"""commune-agent: the monitoring agent that runs on each commune's LAN nodes."""
