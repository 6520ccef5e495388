"""Pseudonymisation of account ids: keyed HMAC-SHA256, for data minimisation.

With ``CIB_SECURITY__PSEUDONYMISE=true`` and a key, every ingest path stores
``p-`` + the first 32 hex digits (128 bits) of HMAC-SHA256(key, account id) instead of
the id, and the service maps account ids in requests (ExplainAccount, EraseAccount)
the same way, so callers keep using the ids they know. The same key always gives the
same pseudonym (detection and evidence work unchanged); without the key a pseudonym
cannot be linked back to an id. Losing the key makes stored data unlinkable to new
events: keep it with the database's backups.
"""

from __future__ import annotations

import hashlib
import hmac

from cib_detect.config import SecuritySettings

PREFIX = "p-"


class Pseudonymiser:
    """Maps account ids to pseudonyms (identity when pseudonymisation is off)."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, security: SecuritySettings) -> Pseudonymiser:
        if not security.pseudonymise or security.pseudonym_key is None:
            return cls(None)
        return cls(security.pseudonym_key.get_secret_value().encode("utf-8"))

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def account(self, account_id: str) -> str:
        if self._key is None:
            return account_id
        digest = hmac.new(self._key, account_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:32]

    def accounts(self, ids: list[str]) -> list[str]:
        return ids if self._key is None else [self.account(x) for x in ids]
