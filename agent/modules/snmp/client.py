"""SNMP requests on pysnmp's asyncio API: GET and subtree walks (GETBULK or GETNEXT).

Replies are turned into plain Python values at once (``Varbind``), so decoding into metrics
never touches pysnmp. MIB lookups are off (``lookupMib=False``): OIDs stay numeric and the walk
rate doubles. Our own walk loop (rather than ``bulk_walk_cmd``) counts PDUs, stops at the end
of the subtree and refuses agents whose OIDs do not increase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import errind

from agent.modules.snmp.config import Device
from agent.modules.snmp.decode import Value
from agent.modules.snmp.errors import SnmpError

Varbind = tuple[tuple[int, ...], Value]

AUTH_PROTOCOLS = {
    "MD5": usmHMACMD5AuthProtocol, "SHA": usmHMACSHAAuthProtocol,
    "SHA224": usmHMAC128SHA224AuthProtocol, "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA384": usmHMAC256SHA384AuthProtocol, "SHA512": usmHMAC384SHA512AuthProtocol,
}
# AES192/256 key extension as net-snmp does it (draft-blumenthal-aes-usm).
PRIV_PROTOCOLS = {
    "DES": usmDESPrivProtocol, "AES": usmAesCfb128Protocol,
    "AES192": usmAesBlumenthalCfb192Protocol, "AES256": usmAesBlumenthalCfb256Protocol,
}

NUMERIC_TYPES = frozenset({"Integer", "Integer32", "Counter32", "Counter64", "Gauge32",
                           "Unsigned32", "TimeTicks"})
BYTES_TYPES = frozenset({"OctetString", "IpAddress", "Opaque", "Bits"})
# Exceptions in the varbind list: "no value here", not errors.
ABSENT_TYPES = frozenset({"NoSuchObject", "NoSuchInstance", "EndOfMibView", "Null"})

_AUTH_ERRORS = (errind.WrongDigest, errind.UnknownUserName, errind.AuthenticationError,
                errind.AuthenticationFailure, errind.UnknownSecurityName,
                errind.UnsupportedSecurityLevel, errind.DecryptionError, errind.NoAuthentication,
                errind.UnknownCommunityName, errind.NotInTimeWindow)


def to_value(value: Any) -> Value | None:
    """A pysnmp value as (type name, int | bytes | OID tuple); None for 'no such object'."""
    kind = type(value).__name__
    if kind in NUMERIC_TYPES:
        return kind, int(value)
    if kind in BYTES_TYPES:
        return kind, value.asOctets()
    if kind in ABSENT_TYPES:
        return None
    if kind in ("ObjectIdentifier", "ObjectName"):
        return "ObjectIdentifier", tuple(value)
    return kind, bytes(str(value), "utf-8", "replace")


def classify(indication: object) -> str:
    """The ``reason`` label of a pysnmp error indication."""
    if isinstance(indication, errind.RequestTimedOut):
        return "timeout"
    if isinstance(indication, _AUTH_ERRORS):
        return "auth"
    if isinstance(indication, (errind.DeserializationError, errind.InvalidMsg)):
        return "decode"
    return "protocol"


@dataclass
class Session:
    """One device's transport and credentials on a shared engine; counts its PDUs."""

    engine: SnmpEngine
    device: Device
    target: UdpTransportTarget
    auth: CommunityData | UsmUserData
    pdus: int = 0

    @classmethod
    async def open(cls, engine: SnmpEngine, device: Device) -> Session:
        """Resolve the device's address and read its credentials."""
        assert device.address is not None
        target = await UdpTransportTarget.create((device.address.host, device.address.port),
                                                 timeout=float(device.timeout),
                                                 retries=device.retries)
        return cls(engine, device, target, auth_data(device))

    def _context(self) -> ContextData:
        v3 = self.device.v3
        return ContextData(contextName=v3.context_name) if v3 and v3.context_name else \
            ContextData()

    def _check(self, indication: object, status: Any, index: Any, what: str) -> None:
        if indication:
            reason = classify(indication)
            hint = {"timeout": f" (no answer in {self.device.timeout_budget:g}s: check address, "
                               "community/credentials and ACLs)",
                    "auth": " (check the v3 username, protocols and passphrases)"}.get(reason, "")
            raise SnmpError(reason, f"{what}: {indication}{hint}")
        if status and int(status):
            raise SnmpError("status", f"{what}: agent answered {status.prettyPrint()} "
                                      f"at varbind {int(index)}")

    async def get(self, oids: Sequence[tuple[int, ...]]) -> list[Varbind]:
        """GET the given OIDs (one PDU); absent ones are left out."""
        if not oids:
            return []
        self.pdus += 1
        indication, status, index, varbinds = await get_cmd(
            self.engine, self.auth, self.target, self._context(),
            *(ObjectType(ObjectIdentity(oid)) for oid in oids), lookupMib=False)
        if status and int(status) == 2 and self.device.version == "1":
            return await self._get_v1_one_by_one(oids)
        self._check(indication, status, index, "get")
        return [(tuple(name), v) for name, value in varbinds
                if (v := to_value(value)) is not None]

    async def _get_v1_one_by_one(self, oids: Sequence[tuple[int, ...]]) -> list[Varbind]:
        # SNMPv1 fails the whole GET with noSuchName when one OID is missing.
        result: list[Varbind] = []
        for oid in oids:
            self.pdus += 1
            indication, status, index, varbinds = await get_cmd(
                self.engine, self.auth, self.target, self._context(),
                ObjectType(ObjectIdentity(oid)), lookupMib=False)
            if status and int(status) == 2:
                continue
            self._check(indication, status, index, "get")
            result += [(tuple(n), v) for n, value in varbinds if (v := to_value(value)) is not None]
        return result

    def close(self) -> None:
        """Nothing to release: the engine's sockets are closed with the engine."""

    async def walk(self, root: tuple[int, ...]) -> list[Varbind]:
        """Every varbind under ``root``, by GETBULK (v2c/v3, ``bulk: true``) or GETNEXT."""
        use_bulk = self.device.bulk and self.device.version != "1"
        result: list[Varbind] = []
        cursor = root
        n = len(root)
        context = self._context()
        while True:
            self.pdus += 1
            if use_bulk:
                indication, status, index, varbinds = await bulk_cmd(
                    self.engine, self.auth, self.target, context, 0,
                    self.device.max_repetitions, ObjectType(ObjectIdentity(cursor)),
                    lookupMib=False)
            else:
                indication, status, index, varbinds = await next_cmd(
                    self.engine, self.auth, self.target, context,
                    ObjectType(ObjectIdentity(cursor)), lookupMib=False)
            if status and int(status) == 2 and self.device.version == "1":
                return result  # v1's end of the MIB view
            self._check(indication, status, index, f"walk {'.'.join(map(str, root))}")
            if not varbinds:
                return result
            for name, value in varbinds:
                oid = tuple(name)
                if oid[:n] != root or type(value).__name__ == "EndOfMibView":
                    return result
                if oid <= cursor:
                    raise SnmpError("decode", f"walk {'.'.join(map(str, root))}: agent "
                                    f"answered non-increasing OID {'.'.join(map(str, oid))}")
                cursor = oid
                converted = to_value(value)
                if converted is not None:
                    result.append((oid, converted))


def auth_data(device: Device) -> CommunityData | UsmUserData:
    """pysnmp credentials for a device (secrets read from their files or variables now)."""
    if device.v3 is None:
        model = 0 if device.version == "1" else 1
        return CommunityData(device.community().reveal(), mpModel=model)
    v3 = device.v3
    auth_key = v3.auth_passphrase()
    priv_key = v3.priv_passphrase()
    auth_protocol = usmNoAuthProtocol
    priv_protocol = usmNoPrivProtocol
    if v3.security_level != "noAuthNoPriv":
        auth_protocol = AUTH_PROTOCOLS[v3.auth_protocol]
    if v3.security_level == "authPriv":
        priv_protocol = PRIV_PROTOCOLS[v3.priv_protocol]
    return UsmUserData(
        v3.username,
        authKey=auth_key.reveal() if auth_key is not None and
        v3.security_level != "noAuthNoPriv" else None,
        privKey=priv_key.reveal() if priv_key is not None and
        v3.security_level == "authPriv" else None,
        authProtocol=auth_protocol, privProtocol=priv_protocol)
