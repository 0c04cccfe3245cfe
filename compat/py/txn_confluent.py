#!/usr/bin/python3
"""confluent-kafka (librdkafka) transactions for gregor's compat tests.

Usage: txn_confluent.py produce|ctp '<spec json>'

produce: spec {bootstrap, topic, txn_id, txns: [{"values": [..], "commit": bool}]}.
  A transactional producer runs init_transactions, then for each entry
  begin_transaction, produces the values (value i to partition i % 3),
  and commits or aborts. Prints {"type":"done"}.

ctp: spec {bootstrap, input, output, group, txn_id, count, abort_round}.
  Consume-transform-produce: a group consumer (read_committed, no auto
  commit) on input; each batch is one transaction producing "out-<value>"
  to output (same partition) with the consumed offsets sent through
  send_offsets_to_transaction. Round number abort_round (from 1) is aborted
  instead, and the consumer seeks back to where that batch began so the
  records are processed again. Stops after count input records were
  committed. Prints {"type":"round","n":..,"commit":..,"records":..} per
  round and {"type":"done"}.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def emit(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def producer(spec):
    return Producer({
        "bootstrap.servers": spec["bootstrap"],
        "transactional.id": spec["txn_id"],
        "transaction.timeout.ms": 30000,
        "linger.ms": 5,
        "compression.type": "none",
    })


def produce(spec):
    p = producer(spec)
    p.init_transactions(30)
    for txn in spec["txns"]:
        p.begin_transaction()
        for i, v in enumerate(txn["values"]):
            p.produce(spec["topic"], value=v.encode(), partition=i % 3)
        p.flush(30)
        if txn["commit"]:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    emit({"type": "done"})


def ctp(spec):
    c = Consumer({
        "bootstrap.servers": spec["bootstrap"],
        "group.id": spec["group"],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 200,
        "fetch.wait.max.ms": 100,
    })
    p = producer(spec)
    p.init_transactions(30)
    c.subscribe([spec["input"]])
    done, rnd = 0, 0
    deadline = time.time() + 60
    while done < spec["count"]:
        if time.time() > deadline:
            sys.exit("timed out: %d of %d records committed" % (done, spec["count"]))
        msgs = c.consume(num_messages=20, timeout=0.5)
        for m in msgs:
            if m.error() is not None:
                emit({"type": "log", "msg": str(m.error())})
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            continue
        rnd += 1
        commit = rnd != spec.get("abort_round", 0)
        p.begin_transaction()
        for m in msgs:
            p.produce(spec["output"], value=b"out-" + m.value(), partition=m.partition())
        p.flush(30)
        pos = [tp for tp in c.position(c.assignment()) if tp.offset >= 0]
        p.send_offsets_to_transaction(pos, c.consumer_group_metadata(), 10)
        if commit:
            p.commit_transaction(30)
            done += len(msgs)
        else:
            p.abort_transaction(30)
            first = {}
            for m in msgs:
                first.setdefault(m.partition(), m.offset())
            for part, off in first.items():
                c.seek(TopicPartition(spec["input"], part, off))
        emit({"type": "round", "n": rnd, "commit": commit, "records": len(msgs)})
    c.close()
    emit({"type": "done"})


def main():
    {"produce": produce, "ctp": ctp}[sys.argv[1]](json.loads(sys.argv[2]))


if __name__ == "__main__":
    main()
