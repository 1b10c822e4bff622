"""Secrets out of command lines before they leave the host.

Command lines carry credentials in many shapes: ``--token X``, ``--token=X``,
``password=X``, ``PGPASSWORD=X``, ``-H 'Authorization: Bearer X'``,
``https://user:pass@host``, ``mysql -pX``, ``redis-cli -a X``, ``sshpass -p X``, a JSON
argument with ``"password": "X"``. Each value is replaced by ``<redacted>``; the option
names stay, so an operator still sees how a process was started.

Names are judged by their words (split on ``-``, ``_``, ``.`` and camelCase): a word
such as token, password, secret, credential or passphrase anywhere in the name, or a
whole word key, pass, pwd, auth or bearer, makes it secret; one that names where a
secret lives (file, path, dir, stdin, fd, env, type, name, id, url) does not, so
``--password-file /etc/x`` keeps its path. Erring towards redaction costs a fact such
as ``--key /path``; erring the other way leaks a credential to every CMDB reader.
"""

from __future__ import annotations

import functools
import os
import re

REDACTED = "<redacted>"

_STRONG = ("token", "passw", "passwd", "secret", "credential", "passphrase", "apikey", "privkey")
_WEAK = frozenset(
    {"key", "pass", "pwd", "pw", "auth", "authorization", "bearer", "cookie", "sig", "signature"}
)
_NOT_A_VALUE = frozenset(
    {"file", "path", "dir", "stdin", "fd", "env", "type", "name", "id", "url", "uri", "length"}
)
_WORDS = re.compile(r"[-_.\s]+|(?<=[a-z0-9])(?=[A-Z])")

# user:password@ in a URL (the user stays)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]*):([^\s/@]+)@")
# Authorization: Bearer X / Basic X / Token X, and a bare "Bearer X"
_AUTH_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization)(\s*[:=]\s*)(?:(bearer|basic|token|digest)\s+)?(\S+)"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+(?!<redacted>)([A-Za-z0-9._~+/=-]{8,})")
# "name": "value" (JSON, YAML flow)
# (each name pattern starts a match only where a name starts: a match from inside a name
# would be the one from its start, and trying each position of a long argument such as a
# class path made these two rules quadratic)
_QUOTED_PAIR = re.compile(r"""(?:(?<![\w.-])|(?=["']))(["']?)([\w.-]+)\1(\s*:\s*)(["'])(.*?)\4""")
# a header given as one argument: "X-Api-Key: value"
_HEADER = re.compile(r"^\s*([\w-]+)\s*:\s+(.+)$")
# name=value inside text (query strings, env assignments, mount options, DSNs)
# (the value runs to whitespace, a quote, "&", or a "," / ";" that starts another name=)
_PAIR = re.compile(r"""(?<![\w.-])([\w.-]+)(\s*=\s*)([^\s&'"]+?)(?=[,;&][\w.-]+=|[\s&'"]|$)""")
# name:value with no space (secret:abc, token:xyz); "//" after the colon is a URL
_COLON_PAIR = re.compile(r"""(?<![\w./-])([\w.-]+)(:\s*)(?!//)([^\s'",;&]+)""")
# --name value inside one argument that holds a whole command line (rewritten titles)
_FLAG_VALUE = re.compile(r"(?<!\S)(-{1,2}[\w.-]+)(\s+)(?!-)(\S+)")

# every rule of _redact_text needs one of these (":" or "=" between a name and its value,
# or whitespace before it): text without any is left as it is, without running the rules
_MAY_HOLD_SECRET = re.compile(r"[:=\s]")

# programs whose short options carry a password
_MYSQL = frozenset(
    {"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck", "mariadb"}
)
_SHORT_SECRET = {"sshpass": "-p", "redis-cli": "-a", "keydb-cli": "-a"}


@functools.lru_cache(maxsize=1024)  # the same option names recur in every process list
def is_secret_name(name: str) -> bool:
    """True when an option, variable or header name says its value is a secret."""
    words = [w.lower() for w in _WORDS.split(name.strip("-\"' ")) if w]
    if not words or words[-1] in _NOT_A_VALUE:
        return False
    if any(strong in word for word in words for strong in _STRONG):
        return True
    return any(word in _WEAK for word in words)


def _may_name(text: str, word: str) -> bool:
    """Whether ``(?i)word`` may match in ``text``: a plain search in ASCII text, where
    IGNORECASE folds only ASCII letters; always True in other text (re also folds e.g.
    a dotless i to an i), so the rule itself decides there."""
    return not text.isascii() or word in text.lower()


def _redact_text(text: str) -> str:
    """Rules that need no knowledge of argument boundaries.

    Each rule runs only where the characters it cannot match without are present (a
    command line of a Java process runs to kilobytes: scanning all of it with seven
    patterns was most of the process list's cost); the result is the same."""
    if not _MAY_HOLD_SECRET.search(text):
        return text  # most arguments: no rule below can match
    if "://" in text and "@" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m[1]}:{REDACTED}@", text)
    if _may_name(text, "authorization"):
        text = _AUTH_HEADER.sub(
            lambda m: f"{m[1]}{m[2]}{m[3] + ' ' if m[3] else ''}{REDACTED}", text
        )
    if _may_name(text, "bearer"):
        text = _BEARER.sub(lambda m: f"{m[1]} {REDACTED}", text)
    if ":" in text and ('"' in text or "'" in text):
        text = _QUOTED_PAIR.sub(
            lambda m: (
                f"{m[1]}{m[2]}{m[1]}{m[3]}{m[4]}{REDACTED}{m[4]}" if is_secret_name(m[2]) else m[0]
            ),
            text,
        )
    if "=" in text:
        text = _PAIR.sub(
            lambda m: f"{m[1]}{m[2]}{REDACTED}" if is_secret_name(m[1]) else m[0], text
        )
    if ":" in text:
        text = _COLON_PAIR.sub(
            lambda m: (
                f"{m[1]}{m[2]}{REDACTED}" if is_secret_name(m[1]) and m[3] != REDACTED else m[0]
            ),
            text,
        )
    if "-" not in text:
        return text
    return _FLAG_VALUE.sub(
        lambda m: f"{m[1]}{m[2]}{REDACTED}" if is_secret_name(m[1]) and m[3] != REDACTED else m[0],
        text,
    )


def _option_name(arg: str) -> str | None:
    """``--token`` -> "token"; ``-p`` -> "p"; a non-option -> None."""
    if not arg.startswith("-") or arg in ("-", "--") or "=" in arg:
        return None
    return arg.lstrip("-")


def redact_argv(argv: list[str] | tuple[str, ...]) -> list[str]:
    """Each argument with its secrets replaced; an argument that follows a secret option
    (``--token X``) is replaced whole, spaces and all."""
    args = list(argv)
    program = os.path.basename(args[0]) if args else ""
    out: list[str] = []
    redact_next = False
    for i, arg in enumerate(args):
        if redact_next:
            # whatever it is: a secret may start with "-", and a lost flag costs little
            redact_next = False
            out.append(REDACTED)
            continue
        head, eq, _value = arg.partition("=")
        if eq and head.startswith("-") and is_secret_name(head):
            out.append(f"{head}={REDACTED}")  # the rest of the argument is the value
            continue
        header = _HEADER.match(arg)
        if header and is_secret_name(header[1]):
            out.append(f"{header[1]}: {REDACTED}")
            continue
        if program in _MYSQL and arg.startswith("-p") and not arg.startswith("--") and arg != "-p":
            out.append(f"-p{REDACTED}")
            continue
        short = _SHORT_SECRET.get(program)
        if short and arg.startswith(short) and not arg.startswith("--"):
            if arg == short:
                out.append(arg)
                redact_next = True
            else:
                out.append(f"{short}{REDACTED}")
            continue
        name = _option_name(arg)
        if name is not None and i > 0 and is_secret_name(name):
            out.append(arg)
            redact_next = True
            continue
        out.append(_redact_text(arg))
    return out


def redact_cmdline(argv: list[str] | tuple[str, ...] | str) -> str:
    """The command line as one string with every secret replaced by ``<redacted>``."""
    if isinstance(argv, str):
        return _redact_text(argv)
    return " ".join(redact_argv(argv))
