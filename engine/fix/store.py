"""A FIX session's memory in the store (migration 015): the next sequence numbers each way, and every application
message we sent, kept to answer a ResendRequest, also after a restart.

Both are written before the bytes leave: a sequence number once used is never used again, whatever stops the
process, and a message the counterparty asks for again can always be found."""
from __future__ import annotations

from dataclasses import dataclass

from engine.clock import now_ms
from engine.store import Store


@dataclass(frozen=True)
class SentMessage:
    seq: int
    msg_type: str
    cl_ord_id: str
    raw: bytes


class SequenceStore:
    """Sequence numbers and sent application messages of one session (``session_id``: begin string, sender and
    target CompIDs), in the tables ``fix_sequences`` and ``fix_messages``."""

    def __init__(self, store: Store, session_id: str):
        self.store = store
        self.session_id = session_id

    def load(self) -> tuple[int, int]:
        """(next sequence number we send, next one we expect): (1, 1) for a session never run."""
        df = self.store.query_df("SELECT next_sender_seq, next_target_seq FROM fix_sequences FINAL "
                                 "WHERE session_id = {s:String}", {"s": self.session_id}, columns_if_empty=False)
        if df.empty:
            return 1, 1
        return int(df.iat[0, 0]), int(df.iat[0, 1])

    def save(self, next_sender: int, next_target: int) -> None:
        self.store.command(
            "INSERT INTO fix_sequences (session_id, next_sender_seq, next_target_seq, updated_at) VALUES "
            "({s:String}, {o:UInt64}, {i:UInt64}, {t:DateTime64(3, 'UTC')})",
            {"s": self.session_id, "o": next_sender, "i": next_target, "t": now_ms().to_pydatetime()})

    def reset(self) -> None:
        """Both numbers back to 1 (a ResetSeqNumFlag logon), and the messages sent under the old numbers
        forgotten: a ResendRequest of the new numbering must never find an order of the old one."""
        self.store.command("DELETE FROM fix_messages WHERE session_id = {s:String}", {"s": self.session_id})
        self.save(1, 1)

    def record_sent(self, seq: int, msg_type: str, cl_ord_id: str, raw: bytes) -> None:
        self.store.command(
            "INSERT INTO fix_messages (session_id, seq_num, msg_type, cl_ord_id, raw, sent_at) VALUES "
            "({s:String}, {n:UInt64}, {m:String}, {c:String}, {r:String}, {t:DateTime64(3, 'UTC')})",
            {"s": self.session_id, "n": seq, "m": msg_type, "c": cl_ord_id, "r": raw.decode("latin-1"),
             "t": now_ms().to_pydatetime()})

    def sent_between(self, first: int, last: int) -> dict[int, SentMessage]:
        """The application messages we sent with sequence numbers first..last, by number."""
        df = self.store.query_df(
            "SELECT seq_num, msg_type, cl_ord_id, raw FROM fix_messages FINAL WHERE session_id = {s:String} "
            "AND seq_num BETWEEN {a:UInt64} AND {b:UInt64} ORDER BY seq_num",
            {"s": self.session_id, "a": first, "b": last}, columns_if_empty=False)
        return {int(r.seq_num): SentMessage(int(r.seq_num), str(r.msg_type), str(r.cl_ord_id),
                                            _bytes(r.raw)) for r in df.itertuples()}

    def sent_one(self, seq: int) -> SentMessage | None:
        """The application message we sent as ``seq`` (None for an admin message or none sent). Its
        ``cl_ord_id`` is the order's, also for an OrderCancelRequest (the order it asked to cancel)."""
        return self.sent_between(seq, seq).get(seq)


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("latin-1")
