#!/usr/bin/python3
"""kafka-python consumer group member for gregor's compat tests.

Usage: group_kafka_python.py '{"bootstrap":..,"group":..,"topic":..,"client_id":..}'

Subscribes to the topic in the group and prints one JSON line per event:
{"type":"assigned","partitions":[..]} (the whole assignment after each
rebalance; [] when revoked) and {"type":"record","p":..,"o":..,"v":".."};
it commits synchronously after each poll that returned records. When stdin
closes it closes the consumer (leaving the group) and exits.
"""
import json
import sys
import threading

from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError


def emit(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        emit({"type": "assigned", "partitions": []})

    def on_partitions_assigned(self, assigned):
        emit({"type": "assigned", "partitions": sorted(tp.partition for tp in assigned)})


def main():
    spec = json.loads(sys.argv[1])
    stop = threading.Event()

    def watch():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    c = KafkaConsumer(
        bootstrap_servers=spec["bootstrap"],
        group_id=spec["group"],
        client_id=spec["client_id"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=200,
        fetch_max_wait_ms=100,
        metadata_max_age_ms=5000,
    )
    c.subscribe([spec["topic"]], listener=Listener())
    while not stop.is_set():
        batch = c.poll(timeout_ms=100)
        for tp, msgs in batch.items():
            for m in msgs:
                emit({"type": "record", "p": m.partition, "o": m.offset, "v": m.value.decode()})
        if batch:
            try:
                c.commit()
            except CommitFailedError as e:
                emit({"type": "log", "msg": "commit failed: %s" % e})
    c.close()


if __name__ == "__main__":
    main()
