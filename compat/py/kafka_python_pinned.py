#!/usr/bin/python3
"""kafka-python pinned to an old protocol generation, for gregor's compat tests.

Usage: kafka_python_pinned.py produce|consume < spec.json

The spec (JSON on stdin) is that of kafka_python_client.py plus
"api_version" ("0.8.2", "0.9", "0.10.0", ..., "2.1"): kafka-python then
sends exactly that generation's request versions (Produce v0 with magic 0
messages for 0.8.2, Fetch v0, ...), never asking the broker for its ranges.
With "group", consume reads in that consumer group: subscribed (0.9+,
JoinGroup/SyncGroup/Heartbeat) or assigned (0.8.2, which has no group
membership but commits to the group), commits what it read and prints
{"committed": {partition: offset}} as its last line, read back with
OffsetFetch. Output lines are as kafka_python_client.py's.
"""
import base64
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def unb64(s):
    return None if s is None else base64.b64decode(s)


def version(spec):
    return tuple(int(x) for x in spec["api_version"].split("."))


def produce(spec):
    comp = spec.get("compression", "none")
    p = KafkaProducer(
        bootstrap_servers=spec["bootstrap"],
        api_version=version(spec),
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
                              headers=hdrs or None, partition=r["p"]))
    p.flush(timeout=spec.get("timeout_s", 30))
    for f in futures:
        md = f.get(timeout=spec.get("timeout_s", 30))
        print(json.dumps({"p": md.partition, "o": md.offset}))
    p.close()


def is_marker(m):
    """kafka-python 2.0.2 hands out the control records of transaction
    markers (it does not skip control batches), from any broker; they are
    known by their key (version 0, type 0 abort or 1 commit) and their
    6-byte value (version, coordinator epoch)."""
    return m.key in (b"\x00\x00\x00\x00", b"\x00\x00\x00\x01") and m.value is not None and len(m.value) == 6


def consume(spec):
    v = version(spec)
    counts = {int(k): n for k, n in spec["counts"].items()}
    group = spec.get("group")
    c = KafkaConsumer(
        bootstrap_servers=spec["bootstrap"],
        api_version=v,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )
    tps = [TopicPartition(spec["topic"], p) for p in sorted(counts)]
    if group and v >= (0, 9):
        c.subscribe([spec["topic"]])
    else:
        c.assign(tps)
        c.seek_to_beginning(*tps)
    got = {p: 0 for p in counts}
    last = {}
    deadline = time.time() + spec.get("timeout_s", 30)
    while any(got[p] < counts[p] for p in counts):
        if time.time() > deadline:
            sys.exit("timed out: consumed %s of %s" % (got, counts))
        for tp, recs in c.poll(timeout_ms=500).items():
            for m in recs:
                if is_marker(m):
                    continue
                got[tp.partition] += 1
                last[tp.partition] = m.offset
                print(json.dumps({"p": m.partition, "o": m.offset, "k": b64(m.key), "v": b64(m.value),
                                  "h": [{"k": k, "v": b64(v)} for k, v in (m.headers or [])]}))
    if group:
        c.commit({TopicPartition(spec["topic"], p): OffsetAndMetadata(o + 1, "") for p, o in last.items()})
        print(json.dumps({"committed": {str(tp.partition): c.committed(tp) for tp in tps}}))
    c.close()


def main():
    spec = json.load(sys.stdin)
    {"produce": produce, "consume": consume}[sys.argv[1]](spec)


if __name__ == "__main__":
    main()
