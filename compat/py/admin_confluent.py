#!/usr/bin/python3
"""confluent-kafka (librdkafka) AdminClient against gregor.

Usage: admin_confluent.py <bootstrap> <prefix>. Creates, alters, describes
and deletes topics under names starting with prefix, and lists a group a
consumer joined, checking each answer as Kafka gives it. Prints one line
per check; exits 1 if any failed.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

bootstrap, prefix = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
failed = []


def check(what, ok, detail=""):
    print("%s %s %s" % ("ok  " if ok else "FAIL", what, detail))
    if not ok:
        failed.append(what)


def result(futures):
    """The one future's result, or the KafkaError it raised."""
    (f,) = futures.values()
    try:
        return f.result(timeout=30), None
    except Exception as e:  # KafkaException wraps a KafkaError
        return None, e.args[0] if e.args and isinstance(e.args[0], KafkaError) else e


def code(err):
    return err.code() if isinstance(err, KafkaError) else None


t1, t2 = prefix + "-a", prefix + "-b"
_, err = result(admin.create_topics([NewTopic(t1, 3, 1, config={"retention.ms": "100000"})]))
check("create_topics", err is None, err)
_, err = result(admin.create_topics([NewTopic(t1, 3, 1)]))
check("create_topics of an existing topic", code(err) == KafkaError.TOPIC_ALREADY_EXISTS, err)
_, err = result(admin.create_topics([NewTopic(prefix + "-rf", 1, 5)]))
check("create_topics with too large a replication factor", code(err) == KafkaError.INVALID_REPLICATION_FACTOR, err)
_, err = result(admin.create_topics([NewTopic(prefix + "-dry", 1, 1)], validate_only=True))
check("create_topics validate_only", err is None, err)
_, err = result(admin.create_topics([NewTopic(t2, 1, 1)]))
check("create_topics second", err is None, err)

# On a cluster the broker asked may describe the new topic a moment after
# the one that created it (once it knows the leaders), as in Kafka.
deadline = time.time() + 20
names = set(admin.list_topics(timeout=10).topics)
while time.time() < deadline and not (t1 in names and t2 in names):
    time.sleep(0.2)
    names = set(admin.list_topics(timeout=10).topics)
check("list_topics", t1 in names and t2 in names and prefix + "-dry" not in names, sorted(n for n in names if n.startswith(prefix)))

_, err = result(admin.create_partitions([NewPartitions(t2, 2)]))
check("create_partitions", err is None, err)
_, err = result(admin.create_partitions([NewPartitions(t2, 1)]))
check("create_partitions to fewer", code(err) == KafkaError.INVALID_PARTITIONS, err)
# Judged on the answer that ended the wait: asked again, another broker
# that has not read the new partition yet may still describe one (a
# moment's lag between brokers, as between Kafka's brokers receiving the
# controller's UpdateMetadata).
deadline = time.time() + 20
count = len(admin.list_topics(t2, timeout=10).topics[t2].partitions)
while time.time() < deadline and count != 2:
    time.sleep(0.2)
    count = len(admin.list_topics(t2, timeout=10).topics[t2].partitions)
check("metadata shows the new partition", count == 2, count)

cfg, err = result(admin.describe_configs([ConfigResource("topic", t1)]))
check("describe_configs of a topic", err is None and cfg["retention.ms"].value == "100000" and cfg["cleanup.policy"].value == "delete", err)
_, err = result(admin.alter_configs([ConfigResource("topic", t1, set_config={"retention.ms": "200000"})]))
check("alter_configs", err is None, err)
deadline = time.time() + 20  # in a cluster another broker may take a moment
while True:
    cfg, err = result(admin.describe_configs([ConfigResource("topic", t1)]))
    if time.time() > deadline or (err is None and cfg["retention.ms"].value == "200000"):
        break
    time.sleep(0.2)
check("describe_configs after alter_configs", err is None and cfg["retention.ms"].value == "200000", err)
broker_id = str(min(admin.list_topics(timeout=10).brokers))
cfg, err = result(admin.describe_configs([ConfigResource("broker", broker_id)]))
check("describe_configs of a broker", err is None and "num.partitions" in cfg, err)
_, err = result(admin.describe_configs([ConfigResource("topic", prefix + "-none")]))
check("describe_configs of an unknown topic", code(err) == KafkaError.UNKNOWN_TOPIC_OR_PART, err)

# acks=1: the topics have one replica, and a cluster may ask for two in
# sync (min.insync.replicas), which fails acks=all with NOT_ENOUGH_REPLICAS.
p = Producer({"bootstrap.servers": bootstrap, "acks": 1})
for i in range(6):
    p.produce(t1, value=b"v%d" % i)
p.flush(30)
group = prefix + "-g"
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
c.subscribe([t1])
got, deadline = 0, time.time() + 30
while got < 6 and time.time() < deadline:
    m = c.poll(1)
    if m is not None and m.error() is None:
        got += 1
check("a consumer of the group reads the records", got == 6, got)
gs = [g for g in admin.list_groups(group, timeout=10) if g.id == group]
check("list_groups of a joined group", len(gs) == 1 and gs[0].state == "Stable" and gs[0].protocol_type == "consumer" and len(gs[0].members) == 1,
      [(g.state, g.protocol_type, len(g.members)) for g in gs])
c.close()
gs = [g for g in admin.list_groups(group, timeout=10) if g.id == group]
check("list_groups after the member left", len(gs) == 1 and gs[0].state == "Empty" and not gs[0].members, [(g.state, len(g.members)) for g in gs])

_, err = result(admin.delete_topics([t2]))
check("delete_topics", err is None, err)
_, err = result(admin.delete_topics([prefix + "-none"]))
check("delete_topics of an unknown topic", code(err) == KafkaError.UNKNOWN_TOPIC_OR_PART, err)

sys.exit(1 if failed else 0)
