#!/usr/bin/python3
"""kafka-python driver for gregor's compat tests.

Usage: kafka_python_client.py produce|consume < spec.json

The spec (JSON on stdin) has bootstrap, topic, compression ("none", "gzip",
"snappy", "lz4", "zstd"), timeout_s, and for produce a list of records
{"p": partition, "k": b64 key, "v": b64 value, "h": [{"k": name, "v": b64}]},
for consume "counts" {partition: records expected}. Output is one JSON line
per acknowledged (produce: {"p", "o"}) or consumed (consume: the record with
"o") record. Partition assignment only, no consumer group.
"""
import base64
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def unb64(s):
    return None if s is None else base64.b64decode(s)


def produce(spec):
    comp = spec.get("compression", "none")
    p = KafkaProducer(
        bootstrap_servers=spec["bootstrap"],
        acks="all",
        compression_type=None if comp == "none" else comp,
        linger_ms=5,
        retries=5,
        max_in_flight_requests_per_connection=1,
        request_timeout_ms=20000,
    )
    futures = []
    for r in spec["records"]:
        hdrs = [(h["k"], unb64(h["v"])) for h in r.get("h") or []]
        futures.append(p.send(spec["topic"], key=unb64(r["k"]), value=unb64(r["v"]),
                              headers=hdrs, partition=r["p"]))
    p.flush(timeout=spec.get("timeout_s", 30))
    for f in futures:
        md = f.get(timeout=spec.get("timeout_s", 30))
        print(json.dumps({"p": md.partition, "o": md.offset}))
    p.close()


def consume(spec):
    counts = {int(k): v for k, v in spec["counts"].items()}
    c = KafkaConsumer(
        bootstrap_servers=spec["bootstrap"],
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
    )
    tps = [TopicPartition(spec["topic"], p) for p in sorted(counts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = {p: 0 for p in counts}
    deadline = time.time() + spec.get("timeout_s", 30)
    while any(got[p] < counts[p] for p in counts):
        if time.time() > deadline:
            sys.exit("timed out: consumed %s of %s" % (got, counts))
        for tp, recs in c.poll(timeout_ms=500).items():
            for m in recs:
                got[tp.partition] += 1
                print(json.dumps({"p": m.partition, "o": m.offset, "k": b64(m.key), "v": b64(m.value),
                                  "h": [{"k": k, "v": b64(v)} for k, v in (m.headers or [])]}))
    c.close()


def main():
    spec = json.load(sys.stdin)
    {"produce": produce, "consume": consume}[sys.argv[1]](spec)


if __name__ == "__main__":
    main()
