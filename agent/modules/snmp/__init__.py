"""The ``snmp`` module: switches, routers and VC endpoints polled by SNMP or their HTTP API."""
