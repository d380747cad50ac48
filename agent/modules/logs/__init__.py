"""The ``logs`` module: request, latency and attack metrics from web servers' access logs.

Kept empty so that loading a config (``logs.config``) imports nothing heavy.
"""
