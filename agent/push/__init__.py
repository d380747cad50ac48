"""Remote-write push with an on-disk spool (``push:`` in the agent config).

``config`` is light; the rest (protobuf, snappy) is imported only when push is configured.
"""
