"""The ``probe`` module: ICMP, TCP, H.323, HTTP(S), DNS, SIP and path probes run from the commune.

Kept empty on purpose: the registry imports ``probe.config`` (with ``targets`` and ``kinds``) only,
and the probing code (icmplib, dnspython) is imported when the module is configured.
"""
