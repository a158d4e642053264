"""Credentials out of log lines: `redact(text)` for any path, URL or request line.

Where this server's URLs carry credentials, and what a log line shows instead:

- in the path: `/files/<token>` (the local backend's signed links), `/reset/<token>`
  and `/verify/<token>` (mailed links) become `/files/[redacted]` and so on;
- in the query: presigned S3 parameters (`X-Amz-Signature`, `X-Amz-Credential`,
  `X-Amz-Security-Token`, ...), OAuth `code` and `state`, and any parameter whose
  name says token, signature, credential, secret, password or key keep their name
  and lose their value;
- anywhere: an API token (`dst_...`) keeps its prefix only.

Headers that are credentials as a whole (Authorization, Cookie, Set-Cookie, CSRF
tokens) are dropped by name with `sensitive_header`.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
_TOKEN_IN_PATH = re.compile(r"(/(?:files|reset|verify)/)[^/?#\s\"]+")
_SENSITIVE_PARAM = re.compile(
    r"([?&;](?:x-amz-[a-z-]+|awsaccesskeyid|code|state|sig|[a-z_-]*"
    r"(?:token|signature|credential|secret|password|key)[a-z_-]*)=)[^&;#\s\"]*",
    re.IGNORECASE,
)
_API_TOKEN = re.compile(r"dst_[A-Za-z0-9]+")
_SENSITIVE_HEADERS = ("authorization", "cookie", "csrf", "x-amz-security-token")


def redact(text: str) -> str:
    """`text` with every credential this server puts in URLs replaced by REDACTED."""
    text = _TOKEN_IN_PATH.sub(rf"\g<1>{REDACTED}", text)
    text = _SENSITIVE_PARAM.sub(rf"\g<1>{REDACTED}", text)
    return _API_TOKEN.sub(f"dst_{REDACTED}", text)


def sensitive_header(name: str) -> bool:
    """Whether a header (or a CGI variable such as HTTP_COOKIE) is a credential."""
    lowered = name.lower().replace("_", "-")
    return any(word in lowered for word in _SENSITIVE_HEADERS)
