"""snmp module config and SNMP module files: every mistake is reported with file:line, secrets
stay hidden, and every shipped module file loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.config import load_config
from agent.modules.snmp.config import Secret, SnmpConfig
from agent.modules.snmp.definitions import known_names, load_definitions
from common.schema import ConfigError
from common.shipped import shipped_dir


def write(tmp_path: Path, snmp: str) -> Path:
    path = tmp_path / "agent.yml"
    path.write_text("commune: '1'\nmodules:\n  snmp:\n" +
                    textwrap.indent(textwrap.dedent(snmp).strip(), "    ") + "\n")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_every_shipped_module_loads() -> None:
    names = known_names([shipped_dir("snmp")])
    assert {"if_mib", "system", "host_resources", "ucd", "vc/poly", "vc/yealink",
            "vc/huawei_te", "vc/cisco_xapi", "vc/huawei_cloud_meeting"} <= set(names)
    definitions = load_definitions(names)
    for name, definition in definitions.items():
        if name.startswith("vc/"):
            assert definition.labels.get("vendor"), name
            assert definition.up_metric == "commune_vc_up", name
            assert definition.sources, f"{name}: say which vendor document the OIDs come from"
        metric_names = [m.name for m in definition.metrics] + \
            [m.name for r in definition.requests for m in r.metrics]
        for metric in metric_names:
            if metric.startswith("commune_vc_"):
                assert metric.endswith(("_up", "_registered", "_in_call", "_ratio", "_seconds",
                                        "_calls")), metric


def test_if_mib_names_match_snmp_exporter() -> None:
    if_mib = load_definitions(["if_mib"])["if_mib"]
    by_name = {m.name: m for m in if_mib.metrics}
    for name in ("ifHCInOctets", "ifHCOutOctets", "ifInErrors", "ifOutErrors", "ifInDiscards",
                 "ifOutDiscards", "ifOperStatus", "ifAdminStatus", "ifHighSpeed"):
        metric = by_name[name]
        assert [i.labelname for i in metric.indexes] == ["ifIndex"]
        assert [lk.labelname for lk in metric.lookups] == ["ifAlias", "ifDescr", "ifName"]
    assert by_name["ifHCInOctets"].type == "counter"
    assert str(by_name["ifHCInOctets"].oid) == "1.3.6.1.2.1.31.1.1.1.6"
    assert by_name["ifOperStatus"].enum_values["7"] == "lowerLayerDown"
    # The generator's if_mib: ifType as EnumAsInfo, ifSpecific kept, the lookup columns not
    # metrics of their own, every help "first sentence - OID".
    assert by_name["ifType"].type == "EnumAsInfo"
    assert by_name["ifType"].enum_values["6"] == "ethernetCsmacd"
    assert by_name["ifSpecific"].type == "OctetString"
    assert not {"ifDescr", "ifName", "ifAlias"} & set(by_name)
    assert by_name["sysUpTime"].oid in (o[:-1] for o in if_mib.get)
    assert all(m.help.endswith(f" - {m.oid}") for m in if_mib.metrics)
    assert {m.type for m in if_mib.metrics if m.name.startswith(("ifHC", "ifIn", "ifOut"))
            and m.name not in ("ifIndex", "ifOutQLen")} == {"counter"}


def test_good_config_with_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "auth").write_text("very-secret-auth\n")
    monkeypatch.setenv("SNMP_PRIV", "very-secret-priv")
    path = write(tmp_path, """
        devices:
          - {name: sw, address: "127.0.0.1:161", modules: [if_mib], bulk: false}
          - name: vc
            address: "127.0.0.1:1161"
            version: 3
            v3: {username: mon, auth_protocol: SHA256, auth_passphrase_file: auth,
                 priv_protocol: AES256, priv_passphrase_env: SNMP_PRIV}
            modules: [system, vc/poly]
    """)
    config = load_config(path).modules.entries[0].config
    assert isinstance(config, SnmpConfig)
    sw, vc = config.devices
    assert sw.bulk is False and sw.version == "2c" and sw.community().reveal() == "public"
    assert vc.version == "3" and vc.v3 is not None
    auth, priv = vc.v3.auth_passphrase(), vc.v3.priv_passphrase()
    assert isinstance(auth, Secret) and auth.reveal() == "very-secret-auth"
    assert priv is not None and priv.reveal() == "very-secret-priv"
    shown = f"{auth} {auth!r} {priv} {priv!r} {config!r}"
    assert "very-secret" not in shown
    assert set(config.definitions) == {"if_mib", "system", "vc/poly"}


BAD = [
    ("""devices: [{name: a, address: "127.0.0.1:161", modules: [if_mibb]}]""",
     "unknown SNMP module 'if_mibb' (known: host_resources, if_mib, system, ucd, vc/"),
    ("""devices: [{name: a, address: "127.0.0.1", modules: [if_mib]}]""",
     "agent.yml:4:34: modules.snmp.devices[0].address: expected 'host:port'"),
    ("""devices: [{name: a, address: "127.0.0.1:161", version: 2, modules: [if_mib]}]""",
     "modules.snmp.devices[0].version: expected SNMP version 1, 2c or 3, got '2'"),
    ("""devices: [{name: a, address: "127.0.0.1:161", version: 3, modules: [if_mib]}]""",
     "modules.snmp.devices[0].v3: version 3 needs a 'v3' mapping"),
    ("""devices: [{name: a, address: "127.0.0.1:161", version: 3, modules: [if_mib],
                   v3: {username: u, security_level: authNoPriv, auth_passphrase_env: NOPE_X}}]""",
     "auth_passphrase_env: environment variable 'NOPE_X' is not set"),
    ("""devices: [{name: a, address: "127.0.0.1:161", modules: [if_mib],
                   community_file: missing.txt}]""",
     "community_file: file"),
    ("""devices: [{name: a, url: "http://127.0.0.1:1", modules: [if_mib]}]""",
     "device 'a': module 'if_mib' polls SNMP and needs 'address: host:port'"),
    ("""devices: [{name: a, address: "127.0.0.1:161", modules: [vc/cisco_xapi]}]""",
     "module 'vc/cisco_xapi' reads an HTTP API and needs 'url: http://host:port'"),
    ("""devices: [{name: a, address: "127.0.0.1:161", modules: [if_mib], max_repetitions: 0}]""",
     "max_repetitions: expected 1..200, got 0"),
    ("""devices: [{name: a, address: "127.0.0.1:161", modules: [if_mib]},
                  {name: a, address: "127.0.0.1:162", modules: [if_mib]}]""",
     "duplicate device names: a"),
    ("""devices: [{name: a, address: "127.0.0.1:161", modules: [if_mib], comunity: x}]""",
     "modules.snmp.devices[0].comunity: unknown key"),
]


@pytest.mark.parametrize(("snmp", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_bad_config_messages(tmp_path: Path, snmp: str, message: str) -> None:
    assert message in error_of(write(tmp_path, snmp))


def test_bad_module_file_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "mine.yml").write_text(textwrap.dedent("""\
        metrics:
          - {name: x, oid: 1.3.6.1.2.1.1.3}
          - {name: y, oid: sysUpTime}
          - {name: z, oid: 1.3.6.1.2.1.1.4, type: EnumAsInfo}
    """))
    (tmp_path / "partial.yml").write_text(textwrap.dedent("""\
        walk: [1.3.6.1.2.1.2]
        metrics:
          - {name: x, oid: 1.3.6.1.2.1.31.1.1.1.6}
    """))
    assert "partial.yml:1:7: walk: metric 'x': OID 1.3.6.1.2.1.31.1.1.1.6 is under no 'walk' " \
           "or 'get' OID" in error_of(write(tmp_path, f"""
        module_paths: [{tmp_path}]
        devices: [{{name: a, address: "127.0.0.1:161", modules: [partial]}}]
    """))
    path = write(tmp_path, f"""
        module_paths: [{tmp_path}]
        devices: [{{name: a, address: "127.0.0.1:161", modules: [mine]}}]
    """)
    message = error_of(path)
    assert f"{tmp_path}/mine.yml:3:20: metrics[1].oid: expected a numeric OID" in message
    assert "MIB names are not resolved" in message
    assert f"{tmp_path}/mine.yml:4:5: metrics[2].enum_values: type EnumAsInfo needs " \
           "enum_values" in message


def test_traps_config(tmp_path: Path) -> None:
    (tmp_path / "c").write_text("trapc\n")
    config = load_config(write(tmp_path, """
        traps: {listen: "127.0.0.1:1162", community_files: [c]}
    """)).modules.entries[0].config
    assert isinstance(config, SnmpConfig)
    assert config.devices == () and config.traps is not None
    assert [c.reveal() for c in config.traps.communities()] == ["trapc"]
    assert "traps.listen: expected 'host:port'" in error_of(write(tmp_path, """
        traps: {listen: "162"}
    """))
    assert "modules.snmp.devices: configure 'devices' to poll, or 'traps' to listen" in \
        error_of(write(tmp_path, "module_paths: []"))
