"""The one URL canonicaliser (DESIGN §2): the key of a URL-keyed job id and of in-job dedupe, never fetched.

Two spellings a browser (WHATWG URL standard) treats as one URL get one key: scheme and host lower-cased,
`http:\\\\host\\` and any run of slashes read as `http://host/`, hosts mapped by IDNA 2008 / UTS 46 (the
`idna` package: `faß.example` is `xn--fa-hia.example`, not `fass.example`), IPv4 numbers in any WHATWG
spelling written dotted-decimal, default port dropped, raw spaces and non-ASCII in path, query and
userinfo percent-encoded as UTF-8, percent-escapes upper-cased and those of unreserved characters decoded
(RFC 3986 §6.2.2), dot segments removed, fragment dropped. The query is never reordered: a server may
treat `?a=1&b=2` and `?b=2&a=1` differently. Hosts holding a space, NUL, `<`, `|` or another forbidden
code point are rejected (`InvalidURL`), so a bad seed fails at seeding, not at fetch time.

`canonical_url` first tries a fast path (most seed URLs are already canonical); `full_canonical_url` is
the whole algorithm. tests/unit/test_producer_canon.py checks they agree (hypothesis).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote_to_bytes

import idna

from schemas.errors import InvalidURL

DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
# WHATWG percent-encode sets (beyond C0 controls, space, DEL and non-ASCII, always encoded).
_PATH_SET = frozenset('"#<>?`{}')
_QUERY_SET = frozenset("\"#<>'")
_USERINFO_SET = frozenset('"#<>?`{}/:;=@[\\]^|')
# WHATWG forbidden domain code points (besides C0 controls, space, DEL): never part of a host.
_FORBIDDEN_HOST = frozenset("#%/:<>?@[\\]^|")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))

_LABEL = r"(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Escapes left as they are by canonicalisation: upper-case hex of a byte that is not unreserved.
_KEPT_ESCAPE = r"%(?:[01][0-9A-F]|2[0-9A-C]|2F|3[A-F]|40|5[B-E]|60|7[B-D]|7F|[89A-F][0-9A-F])"
_ALREADY_CANONICAL = re.compile(
    # host: lower-case ASCII, no IDNA label, no trailing dot or port; its last label not a number (which
    # would make it an IPv4 address)
    rf"https?://(?:{_LABEL}\.)*(?!(?:[0-9]+|0x[0-9a-f]*)/){_LABEL}"
    r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*"  # path: no '%', no '?', no '#'
    rf"(?:\?(?:[A-Za-z0-9\-._~!$&()*+,;=:@/?]|{_KEPT_ESCAPE})+)?"  # query: non-empty, no "'"
    r"\Z"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|\?|\Z)")
_NUMERIC_LABEL = re.compile(r"[0-9]+\Z")
_HEX_LABEL = re.compile(r"0[xX][0-9A-Fa-f]*\Z")


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; raises InvalidURL for anything else."""
    if _ALREADY_CANONICAL.match(url) and ("/." not in url or not _DOT_SEGMENT.search(url.split("?", 1)[0])):
        return url
    return full_canonical_url(url)


def full_canonical_url(url: str) -> str:
    """canonical_url without the fast path."""
    scheme, authority, path, query = _split(url)
    userinfo, _, hostport = authority.rpartition("@")
    host, port = _host_and_port(hostport, scheme)
    user = _userinfo(userinfo)
    netloc = f"{user}@{host}" if user else host
    netloc += f":{port}" if port is not None else ""
    path = _remove_dot_segments(_normalise_escapes(_encode(path, _PATH_SET)))
    query = _normalise_escapes(_encode(query, _QUERY_SET))
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _split(url: str) -> tuple[str, str, str, str]:
    """(scheme, authority, path, query) as a WHATWG parser splits a special URL; fragment dropped."""
    url = url.strip(_C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    scheme, colon, rest = url.partition(":")
    if not colon or not _SCHEME.match(scheme) or scheme.lower() not in DEFAULT_PORTS:
        raise InvalidURL(f"{url[:200]!r}: scheme must be http or https")
    rest = rest.split("#", 1)[0].lstrip("/\\")
    end = min((i for i in (rest.find(c) for c in "/\\?") if i >= 0), default=len(rest))
    authority, rest = rest[:end], rest[end:]
    path, _, query = rest.partition("?")
    return scheme.lower(), authority, path.replace("\\", "/"), query


def _host_and_port(hostport: str, scheme: str) -> tuple[str, int | None]:
    host, port_text = hostport, ""
    if ":" in hostport.rsplit("]", 1)[-1]:
        host, _, port_text = hostport.rpartition(":")
    if (port_text and not port_text.isdigit()) or (port_text and int(port_text) > 65535):
        raise InvalidURL(f"port {port_text[:20]!r} is not a number up to 65535")
    port = int(port_text) if port_text else None
    return _canonical_host(host), None if port == DEFAULT_PORTS[scheme] else port


def _canonical_host(host: str) -> str:
    if host.startswith("["):
        return _ipv6(host)
    try:
        decoded = unquote_to_bytes(host).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidURL(f"host {host[:100]!r} is not UTF-8") from None
    ascii_host = _domain_to_ascii(decoded)
    ascii_host = ascii_host[:-1] if ascii_host.endswith(".") and ascii_host.strip(".") else ascii_host
    if not ascii_host:
        raise InvalidURL("no host")
    bad = [c for c in ascii_host if c in _FORBIDDEN_HOST or c <= " " or c == "\x7f"]
    if bad:
        raise InvalidURL(f"host {host[:100]!r} holds {bad[0]!r}, not allowed in a host name")
    labels = ascii_host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]) or _HEX_LABEL.match(labels[-1]):
        return _ipv4(labels)
    return ascii_host


def _domain_to_ascii(host: str) -> str:
    """UTS 46 mapping (IDNA 2008, non-transitional) then A-labels; ASCII labels only lower-cased, and
    checked when they claim to be A-labels (`xn--`), so real hosts with `_` keep working."""
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False) if not host.isascii() else host
        labels = [_ascii_label(label) for label in mapped.split(".")]
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidURL(f"host {host[:100]!r} is not a valid IDNA name: {exc}") from None
    return ".".join(labels)


def _ascii_label(label: str) -> str:
    if not label.isascii():
        return idna.alabel(label).decode("ascii")
    label = label.lower()
    if label.startswith("xn--"):
        idna.ulabel(label)  # raises on a broken A-label
    return label


def _ipv4(labels: list[str]) -> str:
    """WHATWG IPv4 parsing: 1-4 parts, each decimal, 0x-hex or 0-octal; the last fills the rest."""
    if len(labels) > 4:
        raise InvalidURL(f"{'.'.join(labels)[:100]!r} is not an IPv4 address")
    numbers = [_ipv4_number(label) for label in labels]
    last_limit = 256 ** (5 - len(numbers))
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= last_limit:
        raise InvalidURL(f"{'.'.join(labels)[:100]!r} is out of the IPv4 range")
    value = numbers[-1] + sum(n * 256 ** (3 - i) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))


def _ipv4_number(label: str) -> int:
    base, digits = 10, label
    if label[:2].lower() == "0x":
        base, digits = 16, label[2:] or "0"
    elif len(label) > 1 and label.startswith("0"):
        base, digits = 8, label[1:]
    try:
        return int(digits, base) if digits and digits.isalnum() else _bad_ipv4(label)
    except ValueError:
        return _bad_ipv4(label)


def _bad_ipv4(label: str) -> int:
    raise InvalidURL(f"{label[:50]!r} is not an IPv4 number")


def _ipv6(host: str) -> str:
    if not host.endswith("]") or "%" in host:
        raise InvalidURL(f"host {host[:100]!r}: not an IPv6 literal (unclosed, or with a zone id)")
    try:
        return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
    except ValueError as exc:
        raise InvalidURL(f"host {host[:100]!r}: {exc}") from None


def _userinfo(userinfo: str) -> str:
    user, _, password = userinfo.partition(":")
    user, password = (_normalise_escapes(_encode(p, _USERINFO_SET)) for p in (user, password))
    return f"{user}:{password}" if password else user


def _encode(part: str, extra: frozenset[str]) -> str:
    """Percent-encode C0 controls, space, DEL, non-ASCII (as UTF-8) and `extra`; `%` is left alone."""
    if part.isascii() and not any(c <= " " or c == "\x7f" or c in extra for c in part):
        return part
    try:
        return "".join(c if " " < c < "\x7f" and c not in extra else _escape(c) for c in part)
    except UnicodeEncodeError:
        raise InvalidURL(f"{part[:100]!r} is not valid Unicode") from None


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def _normalise_escapes(part: str) -> str:
    """Upper-case percent-escapes and decode those of unreserved characters (RFC 3986 §6.2.2)."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, part)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, on whole segments; an empty path becomes "/"."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined
