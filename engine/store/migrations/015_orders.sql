-- Order routing over FIX 4.4 (issue 12).
-- Every order, one row per order versioned by updated_at (ReplacingMergeTree): a change of state is an insert,
-- read back with FINAL. state: pending (accepted by us, not yet sent), sent, new, partially filled, filled,
-- rejected, cancelled. order_id is the counterparty's OrderID (37), empty until it acknowledges the order.
CREATE TABLE IF NOT EXISTS orders
(
    cl_ord_id   String,
    order_id    String,
    symbol      String,
    side        LowCardinality(String),
    quantity    Float64,
    ord_type    LowCardinality(String),
    price       Nullable(Float64),
    state       LowCardinality(String),
    filled_qty  Float64,
    avg_price   Nullable(Float64),
    text        String,
    source      String,
    created_by  String,
    created_at  DateTime64(3, 'UTC'),
    sent_at     Nullable(DateTime64(3, 'UTC')),
    updated_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (cl_ord_id);

-- The admin switch: nothing is sent unless the latest row says enabled. Rows are only added (who and when).
CREATE TABLE IF NOT EXISTS order_routing
(
    enabled    Bool,
    changed_by String,
    changed_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (changed_at);

-- A FIX session's next sequence numbers each way, kept across restarts (engine/fix/store.py).
CREATE TABLE IF NOT EXISTS fix_sequences
(
    session_id      String,
    next_sender_seq UInt64,
    next_target_seq UInt64,
    updated_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (session_id);

-- The application messages we sent, as sent, to answer the counterparty's ResendRequest.
CREATE TABLE IF NOT EXISTS fix_messages
(
    session_id String,
    seq_num    UInt64,
    msg_type   LowCardinality(String),
    cl_ord_id  String,
    raw        String,
    sent_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(sent_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (session_id, seq_num);
