"""A small SOQL parser and evaluator (the subset a sync job needs), pure and I/O-free.

Supported: ``SELECT f1, f2 | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]``. Conditions: ``= != <> < <= > >=``, ``[NOT] IN (...)``, ``LIKE``, ``AND``, ``OR``, ``NOT``,
parentheses; literals: quoted strings with SOQL escapes, numbers, ``true``/``false``, ``null``, and bare date /
datetime literals (compared as text). String comparisons are case-insensitive, as in Salesforce.
Escapes follow the SOQL reference: ``\\' \\" \\\\ \\n \\r \\t \\b \\f \\uXXXX`` anywhere; ``\\%`` and ``\\_`` only
inside a ``LIKE`` pattern (elsewhere they are a ``MALFORMED_QUERY``, as Salesforce answers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))?)
    | (?P<number>[+-]?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "in",
    "like",
    "order",
    "by",
    "limit",
    "offset",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "true",
    "false",
    "null",
    "count",
}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Literal:
    value: Any
    raw: str | None = None  # the undecoded content of a string literal (LIKE decodes it differently)


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str  # = != < <= > >= in notin like
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or | not
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: Comparison | BoolOp | None
    order_by: tuple[tuple[str, bool, bool], ...]  # (field, descending, nulls_last)
    limit: int | None
    offset: int
    count: bool


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            snippet = text[pos:].strip()[:20]
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{snippet}'")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
    return tokens


def decode_string(raw: str, like: bool = False) -> str:
    """Decode the content of a quoted SOQL literal; in a LIKE pattern ``\\%``/``\\_`` stay escaped."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        if nxt in _ESCAPES:
            out.append(("\\" + nxt) if like and nxt == "\\" else _ESCAPES[nxt])
            i += 2
        elif nxt in "uU" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
            out.append(chr(int(raw[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in "%_" and like:
            out.append("\\" + nxt)
            i += 2
        else:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"Invalid string literal '{raw}'. Illegal character sequence '\\{nxt}' in string literal.",
            )
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> Token | None:
        idx = self.pos + offset
        return self.tokens[idx] if idx < len(self.tokens) else None

    def is_kw(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "ident" and tok.text.lower() == word

    def fail(self) -> SoqlError:
        tok = self.peek()
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text if tok else '<EOF>'}'")

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            raise self.fail()
        self.pos += 1

    def expect(self, text: str) -> None:
        tok = self.peek()
        if tok is None or tok.text != text:
            raise self.fail()
        self.pos += 1

    def ident(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind != "ident" or tok.text.lower() in _KEYWORDS - {"count"}:
            raise self.fail()
        self.pos += 1
        return tok.text

    def integer(self) -> int:
        tok = self.peek()
        if tok is None or tok.kind != "number" or not tok.text.isdigit():
            raise self.fail()
        self.pos += 1
        return int(tok.text)

    def parse(self) -> Query:
        self.expect_kw("select")
        fields: list[str] = []
        count = False
        if self.is_kw("count") and (tok := self.peek(1)) is not None and tok.text == "(":
            self.pos += 1
            self.expect("(")
            self.expect(")")
            count = True
        else:
            fields.append(self.ident())
            while (tok := self.peek()) is not None and tok.text == ",":
                self.pos += 1
                fields.append(self.ident())
        self.expect_kw("from")
        sobject = self.ident()
        where = None
        if self.is_kw("where"):
            self.pos += 1
            where = self.or_expr()
        order: list[tuple[str, bool, bool]] = []
        if self.is_kw("order"):
            self.pos += 1
            self.expect_kw("by")
            while True:
                name = self.ident()
                desc = False
                if self.is_kw("asc") or self.is_kw("desc"):
                    desc = self.is_kw("desc")
                    self.pos += 1
                nulls_last = desc
                if self.is_kw("nulls"):
                    self.pos += 1
                    nulls_last = self.is_kw("last")
                    if not (self.is_kw("first") or self.is_kw("last")):
                        raise self.fail()
                    self.pos += 1
                order.append((name, desc, nulls_last))
                if (tok := self.peek()) is not None and tok.text == ",":
                    self.pos += 1
                    continue
                break
        limit = None
        offset = 0
        if self.is_kw("limit"):
            self.pos += 1
            limit = self.integer()
        if self.is_kw("offset"):
            self.pos += 1
            offset = self.integer()
        if self.peek() is not None:
            raise self.fail()
        return Query(tuple(fields), sobject, where, tuple(order), limit, offset, count)

    def or_expr(self) -> Comparison | BoolOp:
        return self._joined("or", self.and_expr)  # AND binds tighter than OR

    def and_expr(self) -> Comparison | BoolOp:
        return self._joined("and", self.not_expr)

    def _joined(self, keyword: str, operand: Callable[[], Comparison | BoolOp]) -> Comparison | BoolOp:
        """``operand (keyword operand)*``: the lone operand, or one ``BoolOp`` over all of them."""
        parts = [operand()]
        while self.is_kw(keyword):
            self.pos += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else BoolOp(keyword, tuple(parts))

    def not_expr(self) -> Comparison | BoolOp:
        if self.is_kw("not"):
            self.pos += 1
            return BoolOp("not", (self.not_expr(),))
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.pos += 1
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        name = self.ident()
        tok = self.peek()
        if tok is not None and tok.kind == "op":
            self.pos += 1
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(name, op, (self.literal(),))
        negate = False
        if self.is_kw("not"):
            negate = True
            self.pos += 1
        if self.is_kw("in"):
            self.pos += 1
            self.expect("(")
            values = [self.literal()]
            while (tok := self.peek()) is not None and tok.text == ",":
                self.pos += 1
                values.append(self.literal())
            self.expect(")")
            return Comparison(name, "notin" if negate else "in", tuple(values))
        if self.is_kw("like") and not negate:
            self.pos += 1
            lit = self.literal()
            if lit.raw is None:
                raise self.fail()
            return Comparison(name, "like", (lit,))
        raise self.fail()

    def literal(self) -> Literal:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        self.pos += 1
        if tok.kind == "string":
            raw = tok.text[1:-1]
            try:
                return Literal(decode_string(raw), raw)
            except SoqlError:
                # decoded again for LIKE, where \% and \_ are legal; other contexts re-raise in compile()
                return Literal(None, raw)
        if tok.kind == "number":
            return Literal(float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "date":
            return Literal(tok.text)
        if tok.kind == "ident" and tok.text.lower() in {"true", "false"}:
            return Literal(tok.text.lower() == "true")
        if tok.kind == "ident" and tok.text.lower() == "null":
            return Literal(None)
        self.pos -= 1
        raise self.fail()


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: '<EOF>'")
    return _Parser(text).parse()


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _literal_value(lit: Literal) -> Any:
    if lit.raw is not None and lit.value is None:
        decode_string(lit.raw)  # raises the precise MALFORMED_QUERY
    return lit.value


def _like_regex(lit: Literal) -> re.Pattern[str]:
    pattern = decode_string(lit.raw or "", like=True)
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


def compile_where(node: Comparison | BoolOp | None, resolve: Callable[[str], str]) -> Predicate:
    """Turn a condition into a predicate over records keyed by canonical field names.

    ``resolve`` maps a field name as written to its canonical name, raising ``SoqlError`` if unknown.
    """
    if node is None:
        return lambda record: True
    if isinstance(node, BoolOp):
        parts = [compile_where(p, resolve) for p in node.parts]
        if node.op == "and":
            return lambda record: all(p(record) for p in parts)
        if node.op == "or":
            return lambda record: any(p(record) for p in parts)
        return lambda record: not parts[0](record)
    name = resolve(node.field)
    if node.op == "like":
        regex = _like_regex(node.values[0])
        return lambda record: isinstance(record.get(name), str) and bool(regex.fullmatch(record[name]))
    values = [_norm(_literal_value(lit)) for lit in node.values]
    if node.op in {"in", "notin"}:
        members = set(values)
        if node.op == "in":
            return lambda record: _norm(record.get(name)) in members
        return lambda record: _norm(record.get(name)) not in members
    right = values[0]
    op = node.op
    return lambda record: _compare(op, _norm(record.get(name)), right)


def index_hint(node: Comparison | BoolOp | None, resolve: Callable[[str], str]) -> tuple[str, list[Any]] | None:
    """``(field, values)`` when every match must have ``field`` in ``values`` (lets the store use an index)."""
    if isinstance(node, Comparison) and node.op in {"=", "in"}:
        values = [_norm(_literal_value(lit)) for lit in node.values]
        if any(v is None for v in values):
            return None
        return resolve(node.field), values
    if isinstance(node, BoolOp) and node.op == "and":
        for part in node.parts:
            hint = index_hint(part, resolve)
            if hint is not None:
                return hint
    return None


def sort_records(records: list[Record], order: tuple[tuple[str, bool, bool], ...]) -> list[Record]:
    for name, desc, nulls_last in reversed(order):
        present = [r for r in records if r.get(name) is not None]
        missing = [r for r in records if r.get(name) is None]
        present.sort(key=lambda r, n=name: _norm(r[n]), reverse=desc)  # type: ignore[misc]
        records = present + missing if nulls_last else missing + present
    return records
