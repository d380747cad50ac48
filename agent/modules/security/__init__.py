"""The ``security`` module: failed logins, listening ports, LAN neighbours, file integrity,
certificates and pending updates. Kept empty so loading ``security.config`` imports nothing else.
"""
