"""commune-collector: the province side (inventory, Prometheus config, remote-write gateway)."""
