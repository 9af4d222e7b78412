"""Tencent Cloud API 3.0 for the speech providers: a JSON POST signed with TC3-HMAC-SHA256,
and the ``{"Response": {...}}`` / ``{"Response": {"Error": ...}}`` reply. No SDK is needed for
two actions: the signature is the whole protocol (``tc3_authorization``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from urllib.parse import urlsplit


def tc3_authorization(secret_id: str, secret_key: str, host: str, body: bytes,
                      timestamp: int, service: str) -> str:
    """The ``Authorization`` header of Tencent Cloud API 3.0 (TC3-HMAC-SHA256) for a POST of
    ``body`` as ``application/json`` to ``host``, signed at ``timestamp`` (UTC seconds)."""
    date = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
    canonical = "\n".join([
        "POST", "/", "", f"content-type:application/json; charset=utf-8\nhost:{host}\n",
        "content-type;host", hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])

    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing = sign(sign(sign(("TC3" + secret_key).encode(), date), service), "tc3_request")
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, "
            f"Signature={signature}")


class TencentCall:
    """One Tencent Cloud service's signed calls; ``error`` is the provider's exception type."""

    def __init__(self, what: str, service: str, version: str, endpoint: str, region: str | None,
                 secret_id_env: str, secret_key_env: str, timeout: float,
                 error: type[Exception]) -> None:
        self.what, self.service, self.version = what, service, version
        self.endpoint, self.region, self.timeout, self.error = endpoint, region, timeout, error
        self._host = urlsplit(endpoint).netloc
        self._id = os.environ.get(secret_id_env, "")
        self._key = os.environ.get(secret_key_env, "")
        if not self._id or not self._key:
            raise error(f"{what} needs its key pair in ${secret_id_env} and ${secret_key_env} "
                        "(from the Tencent Cloud console's API keys)")

    def __call__(self, action: str, payload: dict) -> dict:
        """The action's ``Response``; its ``Error``, a time-out or no answer as one line."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        stamp = int(time.time())
        headers = {"Content-Type": "application/json; charset=utf-8", "Host": self._host,
                   "X-TC-Action": action, "X-TC-Version": self.version,
                   "X-TC-Timestamp": str(stamp),
                   "Authorization": tc3_authorization(self._id, self._key, self._host, body,
                                                      stamp, self.service)}
        if self.region:
            headers["X-TC-Region"] = self.region
        request = urllib.request.Request(self.endpoint, data=body, method="POST", headers=headers)
        late = self.error(f"{self.what} gave no answer within {self.timeout:g} s")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                reply = json.loads(answer.read().decode()).get("Response", {})
        except TimeoutError:
            raise late from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise late from None
            raise self.error(f"{self.what} at {self.endpoint} is unreachable: {exc.reason}") from None
        except (ValueError, AttributeError) as exc:
            raise self.error(f"{self.what} answered with something that is not its JSON "
                             f"({exc!r:.60})") from None
        error = reply.get("Error")
        if error:
            raise self.error(f"{self.what} refused: {error.get('Code')}: {error.get('Message')}")
        return reply
