"""The ``flows`` module: who and what uses the commune's link, from the router's flow exports."""
