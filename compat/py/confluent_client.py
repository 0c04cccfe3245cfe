#!/usr/bin/python3
"""confluent-kafka (librdkafka) driver for gregor's compat tests.

Same interface as kafka_python_client.py: produce|consume, spec as JSON on
stdin, one JSON line per acknowledged or consumed record. The producer is
idempotent (enable.idempotence=true); the consumer uses assign() with
OFFSET_BEGINNING. librdkafka insists on a group.id, but with assign() and
auto commit off no group is joined.
"""
import base64
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def unb64(s):
    return None if s is None else base64.b64decode(s)


def produce(spec):
    p = Producer({
        "bootstrap.servers": spec["bootstrap"],
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": spec.get("compression", "none"),
        "linger.ms": 5,
        "message.timeout.ms": spec.get("timeout_s", 30) * 1000,
    })
    acked, errors = [], []

    def on_delivery(err, msg):
        if err is not None:
            errors.append("partition %d: %s" % (msg.partition(), err))
        else:
            acked.append({"p": msg.partition(), "o": msg.offset()})

    for r in spec["records"]:
        hdrs = [(h["k"], unb64(h["v"])) for h in r.get("h") or []]
        while True:
            try:
                p.produce(spec["topic"], key=unb64(r["k"]), value=unb64(r["v"]), headers=hdrs,
                          partition=r["p"], on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(spec.get("timeout_s", 30))
    for a in acked:
        print(json.dumps(a))
    if errors or left:
        sys.exit("delivery failed: %d undelivered, errors: %s" % (left, errors[:5]))


def consume(spec):
    counts = {int(k): v for k, v in spec["counts"].items()}
    c = Consumer({
        "bootstrap.servers": spec["bootstrap"],
        "group.id": "gregor-compat-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "fetch.wait.max.ms": 200,
    })
    c.assign([TopicPartition(spec["topic"], p, OFFSET_BEGINNING) for p in sorted(counts)])
    got = {p: 0 for p in counts}
    deadline = time.time() + spec.get("timeout_s", 30)
    while any(got[p] < counts[p] for p in counts):
        if time.time() > deadline:
            sys.exit("timed out: consumed %s of %s" % (got, counts))
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        got[m.partition()] += 1
        print(json.dumps({"p": m.partition(), "o": m.offset(), "k": b64(m.key()), "v": b64(m.value()),
                          "h": [{"k": k, "v": b64(v)} for k, v in (m.headers() or [])]}))
    c.close()


def main():
    spec = json.load(sys.stdin)
    {"produce": produce, "consume": consume}[sys.argv[1]](spec)


if __name__ == "__main__":
    main()
