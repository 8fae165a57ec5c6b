"""MLflow's search filter and order-by grammar, parsed into typed clauses.

``metrics.acc > 0.9 and params.lr = '0.01' and tags."my tag" LIKE 'x%'``: comparisons of
an identifier (``metrics.``, ``params.``, ``tags.``, ``attributes.`` or a bare attribute,
keys quoted with backticks or double quotes when they hold spaces) with a number, a
quoted string or a parenthesised list of strings, joined by ``AND`` (MLflow has no ``OR``).
The parser is a tokenizer plus a loop over ``comparison (AND comparison)*``; what each
entity type may be compared with is MLflow's rule, checked here so a bad filter is a
400 naming the clause. ``mlflow_api.queries`` turns the clauses into a queryset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mlflow_api.errors import invalid

Entity = Literal["metric", "param", "tag", "attribute"]
Value = float | str | tuple[str, ...] | None

PREFIXES: dict[str, Entity] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "created"}
STRING_ATTRIBUTES = {"status", "run_name", "run_id", "user_id", "artifact_uri", "experiment_id"}
ATTRIBUTE_ALIASES = {"created": "start_time", "run_id": "run_id", "id": "run_id", "name": "run_name"}
NUMERIC_OPS = {"=", "!=", ">", ">=", "<", "<="}
STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"}

TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
      | (?P<backtick>`[^`]*`)
      | (?P<op>!=|>=|<=|=|>|<)
      | (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<comma>,)
      | (?P<dot>\.)
      | (?P<word>[A-Za-z_][\w\-:/]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Comparison:
    entity: Entity
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class OrderBy:
    entity: Entity
    key: str
    ascending: bool


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid(f"Invalid filter string {text!r}: cannot read {text[pos:].strip()[:30]!r}.")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
    return tokens


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    if token.kind == "string" and token.text[0] == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body) if token.kind == "string" else body


class _Parser:
    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.tokens = tokenize(text)
        self.pos = 0

    def error(self, message: str) -> Exception:
        return invalid(f"Invalid {self.what} {self.text!r}: {message}")

    def peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.error("it ends too early.")
        self.pos += 1
        return token

    def word_is(self, *words: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "word" and token.text.upper() in words

    def identifier(self) -> tuple[Entity, str]:
        first = self.take()
        if first.kind not in ("word", "backtick", "string"):
            raise self.error(f"expected an identifier such as metrics.acc, found {first.text!r}.")
        head = _unquote(first) if first.kind != "word" else first.text
        nxt = self.peek()
        if nxt is not None and nxt.kind == "dot":
            self.pos += 1
            entity = PREFIXES.get(head.lower())
            if entity is None:
                raise self.error(f"{head!r} is not an entity type (metrics, params, tags or attributes).")
            key_token = self.take()
            if key_token.kind not in ("word", "backtick", "string"):
                raise self.error(f"expected a key after {head}., found {key_token.text!r}.")
            key = key_token.text if key_token.kind == "word" else _unquote(key_token)
            # Keys with dots (tags.mlflow.runName): the word pattern stops at a dot.
            while key_token.kind == "word" and self.peek() is not None and self.peek().kind == "dot":  # type: ignore[union-attr]
                self.pos += 1
                part = self.take()
                key += "." + (part.text if part.kind == "word" else _unquote(part))
            return entity, self.attribute(key) if entity == "attribute" else key
        if first.kind == "word":
            return "attribute", self.attribute(head)
        raise self.error(f"{head!r} needs an entity type, such as tags.{head}.")

    def attribute(self, key: str) -> str:
        key = ATTRIBUTE_ALIASES.get(key, key)
        if key not in NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES:
            known = ", ".join(sorted(NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES))
            raise self.error(f"{key!r} is not a run attribute ({known}).")
        return key


def parse_filter(text: str | None) -> list[Comparison]:
    """The comparisons of a filter string (all must hold); [] for an empty one."""
    if not text or not text.strip():
        return []
    parser = _Parser(text, "filter string")
    out: list[Comparison] = []
    while True:
        out.append(_comparison(parser))
        if parser.peek() is None:
            return out
        if not parser.word_is("AND"):
            raise parser.error(f"expected AND between comparisons, found {parser.take().text!r} (MLflow has no OR).")
        parser.pos += 1


def _operator(parser: _Parser) -> str:
    token = parser.take()
    if token.kind == "op":
        return token.text
    word = token.text.upper() if token.kind == "word" else ""
    if word in ("LIKE", "ILIKE", "IN"):
        return word
    if word == "NOT" and parser.word_is("IN"):
        parser.pos += 1
        return "NOT IN"
    if word == "IS":
        if parser.word_is("NOT"):
            parser.pos += 1
            if not parser.word_is("NULL"):
                raise parser.error("expected NULL after IS NOT.")
            parser.pos += 1
            return "IS NOT NULL"
        if parser.word_is("NULL"):
            parser.pos += 1
            return "IS NULL"
    raise parser.error(f"expected a comparator (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN), found {token.text!r}.")


def _comparison(parser: _Parser) -> Comparison:
    entity, key = parser.identifier()
    op = _operator(parser)
    numeric = entity == "metric" or (entity == "attribute" and key in NUMERIC_ATTRIBUTES)
    allowed = NUMERIC_OPS if numeric else STRING_OPS
    if op not in allowed:
        raise parser.error(f"{op} does not apply to {entity} {key!r} (use {', '.join(sorted(allowed))}).")
    value: Value
    if op in ("IS NULL", "IS NOT NULL"):
        value = None
    elif op in ("IN", "NOT IN"):
        value = _string_list(parser)
    else:
        token = parser.take()
        if numeric:
            if token.kind != "number":
                raise parser.error(f"{entity} {key!r} is compared with a number, not {token.text!r}.")
            value = float(token.text)
        else:
            if token.kind != "string":
                raise parser.error(f"{entity} {key!r} is compared with a quoted string, not {token.text!r}.")
            value = _unquote(token)
    return Comparison(entity, key, op, value)


def _string_list(parser: _Parser) -> tuple[str, ...]:
    if parser.take().kind != "lparen":
        raise parser.error("IN needs a parenthesised list of quoted strings, such as ('a', 'b').")
    items: list[str] = []
    while True:
        token = parser.take()
        if token.kind != "string":
            raise parser.error(f"expected a quoted string in the IN list, found {token.text!r}.")
        items.append(_unquote(token))
        token = parser.take()
        if token.kind == "rparen":
            return tuple(items)
        if token.kind != "comma":
            raise parser.error(f"expected , or ) in the IN list, found {token.text!r}.")


def parse_order_by(clauses: list[str] | None) -> list[OrderBy]:
    out: list[OrderBy] = []
    for clause in clauses or []:
        parser = _Parser(clause, "order_by clause")
        entity, key = parser.identifier()
        ascending = True
        if parser.word_is("ASC", "DESC"):
            ascending = parser.take().text.upper() == "ASC"
        if parser.peek() is not None:
            raise parser.error(f"unexpected {parser.take().text!r} (use: key [ASC|DESC]).")
        out.append(OrderBy(entity, key, ascending))
    return out
