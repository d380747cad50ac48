"""Failed logins from a real systemd-journald (own namespace), read with journalctl cursors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.modules.security.auth import AuthCheck
from agent.modules.security.config import AuthConfig, JournalConfig
from tests.support.journald_peer import Journald
from tests.support.peers import wait_for
from tests.support.samples import samples, value

pytestmark = pytest.mark.peer

FAILURES = "commune_auth_failures_total"


def test_journal_entries_counted_once_across_restarts(tmp_path: Path) -> None:
    with Journald(tmp_path) as journald:
        journald.send("sshd", "Failed password for root from 10.1.1.1 port 1 ssh2")  # history
        wait_for(lambda: journald.entries("sshd", "sudo", "cron") == 1, 10, what="first entry")
        config = AuthConfig(files=(), journal=JournalConfig(namespace=journald.namespace))
        check = AuthCheck(config, str(tmp_path / "state"))
        assert samples(check.collect(), FAILURES) == {}  # starts at the end
        journald.send("sshd", "Failed password for root from 203.0.113.9 port 2 ssh2",
                      "Invalid user admin from 203.0.113.9 port 3",
                      "Connection closed by invalid user admin 203.0.113.9 port 3 [preauth]")
        journald.send("sudo", "pam_unix(sudo:auth): authentication failure; logname=canbo "
                      "uid=1000 euid=0 tty=/dev/pts/0 ruser=canbo rhost=  user=canbo",
                      "   khach : user NOT in sudoers ; TTY=pts/1 ; PWD=/ ; USER=root")
        journald.send("cron", "Failed password for root from 10.9.9.9 port 9 ssh2")  # not asked
        wait_for(lambda: journald.entries("sshd", "sudo", "cron") == 7, 10, what="entries")
        families = check.collect()
        assert value(families, FAILURES, service="ssh", reason="bad_password",
                     source_class="wan") == 1
        assert value(families, FAILURES, service="ssh", reason="invalid_user",
                     source_class="wan") == 1
        assert value(families, FAILURES, service="sudo", reason="bad_password",
                     source_class="local") == 1
        assert value(families, FAILURES, service="sudo", reason="not_allowed",
                     source_class="local") == 1
        assert len(samples(families, FAILURES)) == 4
        again = check.collect()  # nothing new: each entry counted once
        assert value(again, FAILURES, service="ssh", reason="bad_password",
                     source_class="wan") == 1
        # A restarted agent resumes after the saved cursor.
        journald.send("sshd", "Failed password for root from 203.0.113.9 port 4 ssh2")
        wait_for(lambda: journald.entries("sshd", "sudo", "cron") == 8, 10,
                 what="entry after restart")
        restarted = AuthCheck(config, str(tmp_path / "state"))
        families = restarted.collect()
        assert samples(families, FAILURES) == {
            (("reason", "bad_password"), ("service", "ssh"), ("source_class", "wan")): 1}
