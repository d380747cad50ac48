"""A web config file (exporter-toolkit format): TLS, one bcrypt basic-auth user, a header."""

from __future__ import annotations

from pathlib import Path

import bcrypt

from tests.support.tlsfiles import TLSFiles

PASSWORD = "s3cret-pass"


def web_config(tmp_path: Path, tls: TLSFiles) -> Path:
    """web.yml serving ``tls`` to user ``prometheus`` with PASSWORD."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {tls.cert}\n  key_file: {tls.key}\n"
                    f"basic_auth_users:\n  prometheus: '{hashed}'\n"
                    "http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    return path
