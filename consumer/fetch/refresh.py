"""The target of a `<meta http-equiv=refresh content=...>` value, parsed by hand in one linear pass.

After the HTML standard's "shared declarative refresh steps": a delay (digits and dots), an optional
`;` or `,`, an optional `url=`, then the URL, optionally quoted. A regex with adjacent optional
whitespace runs once took cubic time here on a value of spaces (issue 11); a scan cannot.
"""

from __future__ import annotations

_WHITESPACE = " \t\n\f\r"


def refresh_target(content: str) -> str | None:
    """The URL a refresh value leads to, or None when it names none (a plain reload)."""
    rest = content.lstrip(_WHITESPACE).lstrip("0123456789.").lstrip(_WHITESPACE)
    if rest[:1] in (";", ","):
        rest = rest[1:].lstrip(_WHITESPACE)
    if rest[:3].lower() == "url":
        after = rest[3:].lstrip(_WHITESPACE)
        if after[:1] == "=":
            rest = after[1:].lstrip(_WHITESPACE)
    if rest[:1] in ("'", '"'):
        quote, rest = rest[0], rest[1:]
        rest = rest.split(quote, 1)[0]
    target = rest.strip(_WHITESPACE)
    return target or None
