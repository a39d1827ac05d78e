"""Passwords out of anything the worker prints: URLs and libpq connection strings.

A PostgreSQL URL can carry its password in three places that libpq and `pg` both accept:
the user-info (`postgresql://user:secret@host/db`), and the query parameters `password=`
and `sslpassword=` (`…/db?password=secret`). A keyword/value DSN says `password=secret`
too. `redact` masks every one of them, in a URL or anywhere inside a longer text (an error
message that quotes its DSN).
"""

from __future__ import annotations

import re

MASK = "***"

_USERINFO = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*):[^\s/?#]*@")
_PARAMETER = re.compile(
    r"(?P<head>(?:^|[?&;\s,(\"'])(?:ssl)?password\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^&\s#,;)\"']*)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with every password of a URL or DSN in it replaced by `***`."""
    if "://" not in text and "assword" not in text.lower():
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _PARAMETER.sub(lambda m: f"{m['head']}{MASK}", text)
