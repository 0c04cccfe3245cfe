#!/usr/bin/python3
"""confluent-kafka (librdkafka) consumer group member for gregor's compat tests.

Usage: group_confluent.py '{"bootstrap":..,"group":..,"topic":..,"client_id":..}'

Subscribes to the topic in the group and prints one JSON line per event:
{"type":"assigned","partitions":[..]} (the whole assignment after each
rebalance; [] when revoked) and {"type":"record","p":..,"o":..,"v":".."};
it commits each record synchronously. When stdin closes it closes the
consumer (leaving the group) and exits.
"""
import json
import sys
import threading

from confluent_kafka import Consumer, KafkaException


def emit(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def main():
    spec = json.loads(sys.argv[1])
    stop = threading.Event()

    def watch():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    c = Consumer({
        "bootstrap.servers": spec["bootstrap"],
        "group.id": spec["group"],
        "client.id": spec["client_id"],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 200,
        "fetch.wait.max.ms": 100,
        "topic.metadata.refresh.interval.ms": 1000,
    })

    def on_assign(consumer, partitions):
        emit({"type": "assigned", "partitions": sorted(tp.partition for tp in partitions)})

    def on_revoke(consumer, partitions):
        emit({"type": "assigned", "partitions": []})

    c.subscribe([spec["topic"]], on_assign=on_assign, on_revoke=on_revoke)
    while not stop.is_set():
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            emit({"type": "log", "msg": str(m.error())})
            continue
        emit({"type": "record", "p": m.partition(), "o": m.offset(), "v": m.value().decode()})
        try:
            c.commit(message=m, asynchronous=False)
        except KafkaException as e:
            emit({"type": "log", "msg": "commit failed: %s" % e})
    c.close()


if __name__ == "__main__":
    main()
