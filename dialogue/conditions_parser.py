"""Tokenizer and recursive-descent parser for Rasa's predicate syntax (pypred).

Produces a small immutable AST; evaluation lives in ``dialogue.conditions``.

Grammar (precedence: ``not`` > ``and`` > ``or``; comparisons bind tighter than ``not``)::

    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [ cmp_op operand | "contains" operand | "matches" STRING ]
    cmp_op     := "=" | "==" | "is" | "!=" | "is not" | ">" | ">=" | "<" | "<="
    operand    := NAME | STRING | NUMBER | constant | set | "(" or_expr ")"
    set        := "{" [ item ( [","] item )* ] "}"      item := NAME | STRING | NUMBER | constant
    constant   := true | false | null | none | undefined | empty   (case-insensitive)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias


class ConditionError(ValueError):
    """A condition with a syntax error.

    ``column`` is the 0-based position in ``source``; ``str()`` shows the source and a caret.
    """

    def __init__(self, message: str, column: int, source: str) -> None:
        super().__init__(message, column, source)
        self.message = message
        self.column = column
        self.source = source

    def __str__(self) -> str:
        shown = re.sub(r"\s", " ", self.source)
        return f"{self.message} (column {self.column})\n  {shown}\n  {' ' * self.column}^"


class _Sentinel:
    """Falsy singleton marker (UNDEFINED: missing name; EMPTY: the ``empty`` literal)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return self._name


UNDEFINED = _Sentinel("UNDEFINED")
EMPTY = _Sentinel("EMPTY")

# ----------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Name:
    path: tuple[str, ...]
    column: int

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Literal:
    value: Any  # str | int | float | bool | None | UNDEFINED | EMPTY


@dataclass(frozen=True)
class SetLiteral:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Compare:
    op: str  # "=", "!=", ">", ">=", "<", "<="
    left: Node
    right: Node


@dataclass(frozen=True)
class Contains:
    left: Node
    right: Node


@dataclass(frozen=True)
class Matches:
    left: Node
    pattern: re.Pattern[str]


Node: TypeAlias = Name | Literal | SetLiteral | Not | BoolOp | Compare | Contains | Matches


def children(node: Node) -> tuple[Node, ...]:
    """Direct sub-nodes, in source order."""
    if isinstance(node, SetLiteral):
        return node.items
    if isinstance(node, Not):
        return (node.operand,)
    if isinstance(node, BoolOp):
        return node.operands
    if isinstance(node, (Compare, Contains)):
        return (node.left, node.right)
    if isinstance(node, Matches):
        return (node.left,)
    return ()


def iter_names(node: Node) -> Iterator[Name]:
    """Every name in the tree, in source order."""
    if isinstance(node, Name):
        yield node
    for child in children(node):
        yield from iter_names(child)


# ----------------------------------------------------------------------------- tokenizer

_CONSTANTS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "none": None,
    "undefined": UNDEFINED,
    "empty": EMPTY,
}
_KEYWORDS = frozenset({"and", "or", "not", "is", "contains", "matches"})
_OPERATORS = ("==", "!=", ">=", "<=", "=", ">", "<")
_PUNCTUATION = {"(": "LPAREN", ")": "RPAREN", "{": "LBRACE", "}": "RBRACE", ",": "COMMA"}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class Token:
    kind: str  # NAME KEYWORD CONST STRING NUMBER OP LPAREN RPAREN LBRACE RBRACE COMMA EOF
    value: Any
    column: int
    text: str


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        if source[pos].isspace():
            pos += 1
            continue
        token = _next_token(source, pos)
        tokens.append(token)
        pos += len(token.text)
    tokens.append(Token("EOF", None, len(source.rstrip()), ""))
    return tokens


def _next_token(source: str, pos: int) -> Token:
    char = source[pos]
    if char in "\"'":
        return _string_token(source, pos)
    if char in _PUNCTUATION:
        return Token(_PUNCTUATION[char], char, pos, char)
    for op in _OPERATORS:
        if source.startswith(op, pos):
            return Token("OP", "=" if op == "==" else op, pos, op)
    number = _NUMBER_RE.match(source, pos)
    if number:
        text = number.group()
        return Token("NUMBER", float(text) if number.group(1) else int(text), pos, text)
    if _NAME_RE.match(source, pos):
        return _word_token(source, pos)
    raise ConditionError(f"unexpected character {char!r}", pos, source)


def _word_token(source: str, pos: int) -> Token:
    end = pos
    parts: list[str] = []
    while True:
        match = _NAME_RE.match(source, end)
        if match is None:
            raise ConditionError("expected a name after '.'", end, source)
        parts.append(match.group())
        end = match.end()
        if not source.startswith(".", end):
            break
        end += 1
    text = source[pos:end]
    lowered = text.lower()
    if len(parts) == 1 and lowered in _KEYWORDS:
        return Token("KEYWORD", lowered, pos, text)
    if len(parts) == 1 and lowered in _CONSTANTS:
        return Token("CONST", _CONSTANTS[lowered], pos, text)
    return Token("NAME", tuple(parts), pos, text)


def _string_token(source: str, pos: int) -> Token:
    quote = source[pos]
    chars: list[str] = []
    i = pos + 1
    while i < len(source):
        char = source[i]
        if char == quote:
            return Token("STRING", "".join(chars), pos, source[pos : i + 1])
        if char == "\\" and i + 1 < len(source):
            nxt = source[i + 1]
            chars.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        chars.append(char)
        i += 1
    raise ConditionError("unterminated string", pos, source)


# ----------------------------------------------------------------------------- parser


def parse(source: str) -> Node:
    """Parse ``source`` into an AST; raises ConditionError."""
    try:
        return _Parser(source).parse()
    except RecursionError:
        raise ConditionError("condition is nested too deeply", 0, source) from None


def _describe(token: Token) -> str:
    return "end of condition" if token.kind == "EOF" else repr(token.text)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0

    def parse(self) -> Node:
        if self._peek().kind == "EOF":
            raise self._error("empty condition", 0)
        node = self._or_expr()
        token = self._peek()
        if token.kind != "EOF":
            what = "unbalanced ')'" if token.kind == "RPAREN" else f"unexpected {_describe(token)}"
            raise self._error(what, token.column)
        return node

    # -- helpers
    def _peek(self) -> Token:
        return self.tokens[self.pos]

    def _advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _at_keyword(self, word: str) -> bool:
        token = self._peek()
        return token.kind == "KEYWORD" and token.value == word

    def _error(self, message: str, column: int) -> ConditionError:
        return ConditionError(message, column, self.source)

    # -- grammar
    def _or_expr(self) -> Node:
        return self._bool_chain("or", self._and_expr)

    def _and_expr(self) -> Node:
        return self._bool_chain("and", self._not_expr)

    def _bool_chain(self, op: str, operand: Callable[[], Node]) -> Node:
        operands: list[Node] = [operand()]
        while self._at_keyword(op):
            self._advance()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands))

    def _not_expr(self) -> Node:
        if self._at_keyword("not"):
            self._advance()
            return Not(self._not_expr())
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._operand()
        token = self._peek()
        if token.kind == "OP":
            self._advance()
            return Compare(token.value, left, self._operand())
        if self._at_keyword("is"):
            self._advance()
            negated = self._at_keyword("not")
            if negated:
                self._advance()
            return Compare("!=" if negated else "=", left, self._operand())
        if self._at_keyword("contains"):
            self._advance()
            return Contains(left, self._operand())
        if self._at_keyword("matches"):
            self._advance()
            return Matches(left, self._regex())
        return left

    def _regex(self) -> re.Pattern[str]:
        token = self._advance()
        if token.kind != "STRING":
            raise self._error(f"'matches' needs a quoted regular expression, found {_describe(token)}", token.column)
        try:
            return re.compile(token.value)
        except re.error as exc:
            raise self._error(f"invalid regular expression: {exc}", token.column) from None

    def _operand(self) -> Node:
        token = self._peek()
        if token.kind == "LPAREN":
            return self._parenthesized()
        if token.kind == "LBRACE":
            return self._set()
        return self._atom("a value or name")

    def _atom(self, expected: str) -> Node:
        token = self._advance()
        if token.kind == "NAME":
            return Name(token.value, token.column)
        if token.kind in ("STRING", "NUMBER", "CONST"):
            return Literal(token.value)
        raise self._error(f"expected {expected}, found {_describe(token)}", token.column)

    def _parenthesized(self) -> Node:
        opening = self._advance()
        node = self._or_expr()
        token = self._advance()
        if token.kind == "EOF":
            raise self._error("unclosed '('", opening.column)
        if token.kind != "RPAREN":
            raise self._error(f"expected ')', found {_describe(token)}", token.column)
        return node

    def _set(self) -> Node:
        opening = self._advance()
        items: list[Node] = []
        while self._peek().kind != "RBRACE":
            if self._peek().kind == "EOF":
                raise self._error("unclosed '{'", opening.column)
            if items and self._peek().kind == "COMMA":
                self._advance()
                continue
            items.append(self._atom("a set item or '}'"))
        self._advance()
        return SetLiteral(tuple(items))
