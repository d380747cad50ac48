"""commune-diag: runbooks run over SSH on commune nodes."""
