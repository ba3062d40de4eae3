"""The manhole's keys: the operators' ``authorized_keys`` file (read at every login), the host
key (created with mode 0600 on first start), and a public-key checker that logs each login."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from twisted.conch.checkers import IAuthorizedKeysDB, SSHPublicKeyChecker, readAuthorizedKeyFile
from twisted.conch.ssh.keys import BadKeyError, EncryptedKeyError, FingerprintFormats, Key
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from rosey.daemon.config import ConfigError

__all__ = ["AuthorizedKeysFile", "LoggingKeyChecker", "load_or_create_host_key"]

log = Logger(namespace="rosey.daemon.manhole")


# -- keys -------------------------------------------------------------------------------------


@implementer(IAuthorizedKeysDB)
class AuthorizedKeysFile:
    """The keys in an OpenSSH ``authorized_keys`` file, read again at every lookup.

    The file is a few lines, read once per login attempt, so reading it on the reactor thread is
    cheap; an unreadable file means no keys (and one log line), never a crash.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def getAuthorizedKeys(self, avatarId: bytes) -> list[Key]:
        try:
            with open(self.path, "rb") as f:
                return list(readAuthorizedKeyFile(f))
        except OSError as e:
            log.error(
                "manhole: cannot read authorized_keys {path!r}: {error}",
                path=self.path,
                error=e.strerror,
            )
            return []


def load_or_create_host_key(path: str) -> Key:
    """The SSH host key at ``path``; a new ed25519 key (mode 0600) if there is none yet.

    Raises :class:`ConfigError` naming ``manhole.host_key`` when the file is unusable.
    """
    where = Path(path)
    if not where.exists():
        return _create_host_key(where)
    try:
        key: Key = Key.fromFile(path)
    except (OSError, BadKeyError, EncryptedKeyError, ValueError) as e:
        raise ConfigError(f"manhole.host_key: cannot read SSH private key {path!r}: {e}") from None
    if key.isPublic():
        raise ConfigError(f"manhole.host_key: {path!r} holds a public key; expected a private key")
    if stat.S_IMODE(where.stat().st_mode) & 0o077:
        log.warn("manhole: host key {path!r} is readable by others; chmod 600 it", path=path)
    return key


def _create_host_key(where: Path) -> Key:
    key = Key(Ed25519PrivateKey.generate())
    try:
        where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_EXCL: never overwrite a key another process wrote meanwhile; 0600 from the start.
        fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.toString("OPENSSH"))
        where.with_name(where.name + ".pub").write_bytes(
            key.public().toString("OPENSSH", comment="rosey manhole") + b"\n"
        )
    except OSError as e:
        raise ConfigError(f"manhole.host_key: cannot create {str(where)!r}: {e.strerror}") from None
    log.info(
        "manhole: created host key {path} ({fingerprint})",
        path=str(where),
        fingerprint=_fingerprint(key),
    )
    return key


def _fingerprint(key: Key) -> str:
    # As OpenSSH prints it (ssh-keygen -l), so operators can compare.
    return "SHA256:" + str(key.fingerprint(format=FingerprintFormats.SHA256_BASE64)).rstrip("=")


class LoggingKeyChecker(SSHPublicKeyChecker):
    """``SSHPublicKeyChecker`` that logs each signed login attempt (accepted or refused)."""

    def requestAvatarId(self, credentials: Any) -> Deferred[bytes]:
        d: Deferred[bytes] = super().requestAvatarId(credentials)
        if not credentials.signature:
            return d  # the client only asks whether it may try this key

        def describe() -> dict[str, str]:
            try:
                fingerprint = _fingerprint(Key.fromString(credentials.blob))
            except BadKeyError:
                fingerprint = "unparsable key"
            user = credentials.username.decode("utf-8", "replace")
            return {"user": user, "fingerprint": fingerprint}

        def accepted(avatar: bytes) -> bytes:
            log.info("manhole: {user} logged in with {fingerprint}", **describe())
            return avatar

        def refused(failure: Failure) -> Failure:
            if failure.check(UnauthorizedLogin):
                log.warn("manhole: refused {user} with {fingerprint}", **describe())
            return failure

        return d.addCallbacks(accepted, refused)
