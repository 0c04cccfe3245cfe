#!/usr/bin/python3
"""kafka-python's KafkaAdminClient against gregor.

Usage: admin_kafka_python.py <bootstrap> <prefix>. Creates, describes,
alters and deletes topics under names starting with prefix, and describes
and deletes a group a consumer committed in. Prints one line per check;
exits 1 if any failed.
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

bootstrap, prefix = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
failed = []


def check(what, ok, detail=""):
    print("%s %s %s" % ("ok  " if ok else "FAIL", what, str(detail)[:300]))
    if not ok:
        failed.append(what)


def attempt(f):
    try:
        return f(), None
    except Exception as e:
        return None, e


def errors_of(resp, field):
    """The non-zero error codes of a topic-level response."""
    return [e for e in getattr(resp, field) if e[1] != 0]


topic = prefix + "-a"
r, err = attempt(lambda: admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"retention.ms": "100000"})]))
check("create_topics", err is None and not errors_of(r, "topic_errors"), err or r)
_, err = attempt(lambda: admin.create_topics([NewTopic(topic, 2, 1)]))
check("create_topics of an existing topic", isinstance(err, TopicAlreadyExistsError), err)
# On a cluster the broker asked may describe the new topic a moment after
# the one that created it (once it knows the leaders), as in Kafka.
deadline = time.time() + 20
while time.time() < deadline and topic not in admin.list_topics():
    time.sleep(0.2)
check("list_topics", topic in admin.list_topics())
r, err = attempt(lambda: admin.describe_topics([topic]))
check("describe_topics", err is None and len(r) == 1 and len(r[0]["partitions"]) == 2, err or r)
r, err = attempt(lambda: admin.create_partitions({topic: NewPartitions(3)}))
check("create_partitions", err is None and not errors_of(r, "topic_errors"), err or r)

def retention():
    (resp,) = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    (res,) = resp.resources
    return {e[0]: e[1] for e in res[4]}.get("retention.ms")

check("describe_configs", retention() == "100000", retention())
r, err = attempt(lambda: admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "300000"})]))
check("alter_configs", err is None and r.resources[0][0] == 0, err or r)
deadline = time.time() + 20  # in a cluster another broker may take a moment
while time.time() < deadline and retention() != "300000":
    time.sleep(0.2)
check("describe_configs after alter_configs", retention() == "300000", retention())
r, err = attempt(admin.describe_cluster)
check("describe_cluster", err is None and r["cluster_id"] and r["brokers"], err or r)

p = KafkaProducer(bootstrap_servers=bootstrap)
for i in range(6):
    p.send(topic, b"v%d" % i, partition=i % 3)
p.flush()
group = prefix + "-g"
c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                  enable_auto_commit=False, consumer_timeout_ms=20000)
got = 0
for _ in c:
    got += 1
    if got == 6:
        break
c.commit()
check("a consumer of the group reads the records", got == 6, got)
check("list_consumer_groups", (group, "consumer") in admin.list_consumer_groups())
r, err = attempt(lambda: admin.describe_consumer_groups([group]))
check("describe_consumer_groups", err is None and r[0].state == "Stable" and len(r[0].members) == 1, err or r)
offsets = {tp.partition: o.offset for tp, o in admin.list_consumer_group_offsets(group).items()}
check("list_consumer_group_offsets", offsets == {0: 2, 1: 2, 2: 2}, offsets)
c.close()
deadline = time.time() + 20
while time.time() < deadline and admin.describe_consumer_groups([group])[0].state != "Empty":
    time.sleep(0.2)
r, err = attempt(lambda: admin.delete_consumer_groups([group]))
check("delete_consumer_groups", err is None and r[0][1].errno == 0, err or r)
r, err = attempt(lambda: admin.delete_topics([topic]))
check("delete_topics", err is None and not errors_of(r, "topic_error_codes"), err or r)

sys.exit(1 if failed else 0)
