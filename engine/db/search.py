"""The search index: character bigrams of customers' names and complaint texts, as keyed hashes.

Why bigrams, and why a side table. Chinese has no spaces between words and PostgreSQL has no Chinese parser, so
full-text search finds nothing; ``pg_trgm`` needs three characters and misses the two-character names a caller
gives (王芳). Every pair of neighbouring characters of the normalised text (NFKC, case-folded, letters and digits
only) is one row of ``search_token(kind, token, ref)``. A query of n ≥ 2 characters is found where all of its
bigrams are; the caller then checks that the text really holds the query (bigrams can match out of order). The
same table works on SQLite and PostgreSQL, indexed the same way, so there is one code path and one test suite.

Why keyed hashes. The token is a 63-bit keyed BLAKE2b of the bigram with a key derived from the data key's lookup
index (``FieldCipher.index``), never the characters: a two-character name *is* its only bigram, and a readable
token table would be a plain copy of every name next to encrypted phones. Equal bigrams still give equal tokens
(what any blind index gives away). A new data key means new tokens: run ``careflow search reindex``.

Whole identifiers need no tokens: the case number, the customer id, the business key and the phone's lookup
index already have their own indexed columns, which cost nothing more to keep.

Who keeps the table current. Customers and complaints are written through the ORM session in several places
(intake, onboarding, imports, profile updates); :func:`install` hooks the session factory's ``after_flush`` so that
every new or renamed customer and every new or edited complaint has its tokens rewritten in the same transaction,
whoever wrote it. :func:`reindex` rebuilds everything (after a migration or a key change, or for rows written
around the ORM, as the benchmarks do).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Index,
    Select,
    SmallInteger,
    String,
    Table,
    and_,
    bindparam,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, aliased, mapped_column, sessionmaker

from engine.complaints.models import Complaint
from engine.customers.models import Customer
from engine.db.base import Base
from engine.db.session import unit_of_work
from engine.privacy import FieldCipher, Where, customer_field

# The complaint fields whose text is searched (the case file's words and the complainant as named).
CASE_FIELDS = ("summary", "facts", "request", "complainant_name_enc")  # the complainant's name is stored encrypted
BATCH = 2000


class SearchKind(enum.IntEnum):
    CUSTOMER = 1  # ref: customer id; text: the name
    CASE = 2  # ref: complaint case number; text: CASE_FIELDS


class SearchToken(Base):
    """One bigram (as a keyed hash) of one searchable row. The primary key walks one bigram's rows in ``ref``
    order (newest case numbers last); ``ix_search_token_ref`` finds a row's tokens to replace them."""

    __tablename__ = "search_token"
    __table_args__ = (Index("ix_search_token_ref", "kind", "ref"),)

    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), primary_key=True)


Rows: TypeAlias = "Select[*tuple[Any, ...]]"  # a statement of rows of any columns
TABLE: Table = SearchToken.__table__  # type: ignore[assignment]


# --- text → tokens ---------------------------------------------------------------------------------------------


def normalise(text: str | None) -> str:
    """NFKC (full-width forms to plain ones), case-folded, letters and digits only: what bigrams are made of."""
    if not text:
        return ""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def bigrams(text: str | None) -> list[str]:
    """The distinct bigrams of the normalised text, in order of first appearance."""
    flat = normalise(text)
    return list(dict.fromkeys(flat[i:i + 2] for i in range(len(flat) - 1)))


class Tokenizer:
    """Bigrams as 63-bit keyed hashes (see the module docstring)."""

    def __init__(self, cipher: FieldCipher) -> None:
        derived = cipher.index("careflow search token key")
        if derived is None:  # only for an empty value, which this is not
            raise ValueError("no index key")
        self._key = bytes.fromhex(derived)[:32]

    def token(self, gram: str) -> int:
        digest = hashlib.blake2b(gram.encode("utf-8"), key=self._key, digest_size=8).digest()
        return int.from_bytes(digest, "big") >> 1

    def tokens(self, texts: Iterable[str | None]) -> set[int]:
        return {self.token(gram) for text in texts for gram in bigrams(text)}


@functools.lru_cache(maxsize=8)
def tokenizer(cipher: FieldCipher) -> Tokenizer:
    return Tokenizer(cipher)


# The customer columns customer_text reads (loaded by the search, watched by the flush hook): the encrypted name.
NAME_FIELDS = ("name_enc",)


def _opened(cipher: FieldCipher, token: str | None, where: Where) -> str:
    return (cipher.decrypt(token, where) or "") if token else ""


def customer_text(cipher: FieldCipher, row: Any) -> str:
    """The text a customer is found by: the name, decrypted (an ORM customer decrypts itself; a row of columns
    carries ``id`` and ``name_enc``). The one place the search reads a customer's name."""
    if isinstance(row, Customer):
        return str(row.name or "")
    return _opened(cipher, row.name_enc, customer_field("name", row.id))


def complainant_text(cipher: FieldCipher, row: Any) -> str:
    """A complaint's complainant name, decrypted (an ORM complaint, or a row with ``case_no`` and the column)."""
    if isinstance(row, Complaint):
        return str(row.complainant_name or "")
    return _opened(cipher, row.complainant_name_enc, Where("complaint", "complainant_name", row.case_no))


def case_texts(cipher: FieldCipher, row: Any) -> list[str]:
    return [*(str(getattr(row, name) or "") for name in CASE_FIELDS[:3]), complainant_text(cipher, row)]


def document(cipher: FieldCipher, row: Customer | Complaint) -> tuple[SearchKind, str, list[str]]:
    if isinstance(row, Customer):
        return SearchKind.CUSTOMER, row.id, [customer_text(cipher, row)]
    return SearchKind.CASE, row.case_no, case_texts(cipher, row)


# --- writing ---------------------------------------------------------------------------------------------------


def write(conn: Connection, tok: Tokenizer, docs: Sequence[tuple[SearchKind, str, list[str]]], *,
          replace: bool = True) -> int:
    """Store the tokens of ``docs`` (kind, ref, texts), first dropping what each ref had (``replace``)."""
    if replace:
        for kind in {kind for kind, _, _ in docs}:
            refs = [ref for k, ref, _ in docs if k == kind]
            conn.execute(delete(TABLE).where(TABLE.c.kind == int(kind), TABLE.c.ref.in_(refs)))
    rows = [{"kind": int(kind), "token": token, "ref": ref} for kind, ref, texts in docs for token in tok.tokens(texts)]
    for start in range(0, len(rows), 10_000):
        conn.execute(insert(TABLE), rows[start:start + 10_000])
    return len(rows)


def _changed(obj: Any, names: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def install(factory: sessionmaker[Session], cipher: FieldCipher) -> None:
    """Keep the tokens of every customer and complaint flushed through a session of ``factory`` current."""

    @event.listens_for(factory, "after_flush")
    def _index(session: Session, _context: Any) -> None:
        docs, gone = [], []
        for obj in session.new:
            if isinstance(obj, (Customer, Complaint)):
                docs.append(document(cipher, obj))
        for obj in session.dirty:
            if isinstance(obj, Customer) and _changed(obj, NAME_FIELDS) or (
                    isinstance(obj, Complaint) and _changed(obj, CASE_FIELDS)):
                docs.append(document(cipher, obj))
        for obj in session.deleted:
            if isinstance(obj, (Customer, Complaint)):
                gone.append(document(cipher, obj)[:2])
        if not docs and not gone:
            return
        conn = session.connection()
        for kind, ref in gone:
            conn.execute(delete(TABLE).where(TABLE.c.kind == int(kind), TABLE.c.ref == ref))
        if docs:
            write(conn, tokenizer(cipher), docs)


def _batches(conn: Connection, cipher: FieldCipher) -> Iterator[list[tuple[SearchKind, str, list[str]]]]:
    columns = [Customer.id, *(getattr(Customer, name) for name in NAME_FIELDS)]
    last = ""
    while True:
        found = conn.execute(select(*columns).where(Customer.id > last).order_by(Customer.id).limit(BATCH)).all()
        if not found:
            break
        yield [(SearchKind.CUSTOMER, row.id, [customer_text(cipher, row)]) for row in found]
        last = found[-1].id
    last_id = 0
    case_columns = [Complaint.id, Complaint.case_no, *(getattr(Complaint, name) for name in CASE_FIELDS)]
    while True:
        found = conn.execute(select(*case_columns).where(Complaint.id > last_id).order_by(Complaint.id)
                             .limit(BATCH)).all()
        if not found:
            break
        yield [(SearchKind.CASE, row.case_no, case_texts(cipher, row)) for row in found]
        last_id = found[-1].id


def reindex(factory: sessionmaker[Session], cipher: FieldCipher) -> tuple[int, int]:
    """Rebuild the whole table from the customers and complaints: (documents, tokens). One transaction, so searches
    keep seeing the old tokens until it commits."""
    tok = tokenizer(cipher)
    documents = tokens = 0
    with unit_of_work(factory) as session:
        conn = session.connection()
        conn.execute(delete(TABLE))
        for docs in _batches(conn, cipher):
            tokens += write(conn, tok, docs, replace=False)
            documents += len(docs)
    return documents, tokens


# --- reading ---------------------------------------------------------------------------------------------------
# Statements are built once per shape (how many tokens) and cached, values bound: building a statement of this size
# costs more than running it (as in engine.services.task_queries).

PROBE_CAP = 1000  # a bigram's rows counted up to this many: enough to tell a rare one from a common one
WALK_CAP = 3000  # at most this many rows of the rarest bigram are read per search (see matching)
MAX_GRAMS = 6  # at most this many of the query's bigrams are probed and joined; the caller checks the rest


def query_tokens(tok: Tokenizer, text: str) -> list[int]:
    """The tokens of up to MAX_GRAMS of the query's bigrams, spread over it (first and last included)."""
    grams = bigrams(text)
    if len(grams) > MAX_GRAMS:
        step = (len(grams) - 1) / (MAX_GRAMS - 1)
        grams = [grams[round(i * step)] for i in range(MAX_GRAMS)]
    return [tok.token(gram) for gram in grams]


@functools.lru_cache(maxsize=32)
def _probe_statement(tokens: int, kinds: tuple[SearchKind, ...]) -> Rows:
    return select(*(select(func.count()).select_from(
        select(TABLE.c.ref).where(TABLE.c.kind == int(kind), TABLE.c.token == bindparam(f"t{i}"))
        .limit(PROBE_CAP).subquery()).scalar_subquery() for kind in kinds for i in range(tokens)))


@dataclass(frozen=True)
class Plan:
    """How to find one kind's rows for a query: its tokens rarest first, and whether even the rarest is common
    (at least PROBE_CAP rows), so that the walk over it needs a bound (see :func:`matching`)."""

    tokens: list[int]
    common: bool = False


def rarest_first(session: Session, tokens: list[int], kinds: tuple[SearchKind, ...]) -> dict[SearchKind, Plan]:
    """Per kind, the plan of a search for ``tokens``; a kind where one of them occurs nowhere (nothing can match) is
    left out. One statement of capped index-range counts.

    Joining from the rarest bigram keeps a query such as 账户冻结 from walking every case that says 账户; counting
    is cheaper than a plan the database guesses without knowing which of the query's bigrams are rare."""
    if not tokens:
        return {}
    if len(tokens) == 1:  # one bigram: every row of it matches, the walk stops at the LIMIT
        return {kind: Plan(tokens) for kind in kinds}
    counts = session.connection().execute(_probe_statement(len(tokens), kinds), bound(tokens)).one()
    found = {}
    for n, kind in enumerate(kinds):
        mine = counts[n * len(tokens):(n + 1) * len(tokens)]
        if min(mine) > 0:
            found[kind] = Plan([token for _, token in sorted(zip(mine, tokens, strict=True))],
                               common=min(mine) >= PROBE_CAP)
    return found


def matching(stmt: Rows, ref: ColumnElement[str] | InstrumentedAttribute[str], kind: SearchKind,
             tokens: int, common: bool) -> Rows:
    """``stmt`` narrowed to the rows whose ``ref`` has every token (bound as ``t0``… rarest first), walked from the
    rarest token's rows in descending ``ref`` order (newest case numbers first), so that a LIMIT stops early.

    When even the rarest pair is ``common``, the walk reads only its newest WALK_CAP rows: if the other pairs rarely
    meet it (销售人员态度恶劣: both halves common, never together), the search answers in bounded time from the
    newest cases instead of reading every case that says 销售."""
    first = aliased(SearchToken)
    joined = and_(first.ref == ref, first.kind == int(kind), first.token == bindparam("t0"))
    if common:  # the WALK_CAP-th newest row of the rarest token bounds the walk (an index-only read of that many)
        floor = (select(TABLE.c.ref).where(TABLE.c.kind == int(kind), TABLE.c.token == bindparam("t0"))
                 .order_by(TABLE.c.ref.desc()).offset(WALK_CAP - 1).limit(1).scalar_subquery())
        joined = and_(joined, first.ref >= func.coalesce(floor, ""))
    stmt = stmt.join(first, joined)
    first_ref = first.ref
    for i in range(1, tokens):
        other = aliased(SearchToken)
        stmt = stmt.where(exists().where(other.kind == int(kind), other.token == bindparam(f"t{i}"),
                                         other.ref == first_ref))
    return stmt.order_by(first_ref.desc())


def bound(tokens: list[int]) -> dict[str, int]:
    return {f"t{i}": token for i, token in enumerate(tokens)}
