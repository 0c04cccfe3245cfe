package monitor

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/coordinator"
)

// TestStatusPageRenders: the template renders a page with every section
// filled (the browser test renders a real cluster's).
func TestStatusPageRenders(t *testing.T) {
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = "orders", []int32{2, 0}
	a.Topics = append(a.Topics, at)
	p := page{Refresh: 5, Now: time.Now(), Version: "gregor test", ClusterID: "c1", Self: 1, Started: time.Now().Add(-time.Minute),
		Brokers:   []brokerRow{{ID: 1, Addresses: "PLAINTEXT://127.0.0.1:9092", Controller: true, Self: true}},
		Listeners: []listenerRow{{Name: "PLAINTEXT", Addr: "127.0.0.1:9092", Connections: 3}},
		Limits:    []limitRow{{"max.connections", "unlimited"}},
		Topics: []topicRow{{Name: "orders", Under: 1, Partitions: []partitionRow{
			{Index: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}, UnderReplicated: true, Local: true, End: 10, HW: 10, Size: 2048, Segs: 1},
			{Index: 1, Leader: -1, Offline: true},
		}}},
		Groups: []GroupLag{{GroupView: coordinator.GroupView{Group: "billing", State: "Stable", ProtocolType: "consumer", Protocol: "range",
			Members: []coordinator.MemberView{{ID: "m1", ClientID: "c", ClientHost: "/127.0.0.1", Assignment: a.AppendTo(nil)}}},
			Partitions: []PartitionLag{{Topic: "orders", Partition: 0, Committed: 4, End: 10, Lag: 6, HasLag: true}, {Topic: "orders", Partition: 2, Committed: 1, End: -1}}, Total: 6}},
		Txns:   []coordinator.TxnView{{TransactionalID: "tx", ProducerID: 7, State: "Ongoing", StartMs: time.Now().UnixMilli(), TimeoutMs: 60000, Partitions: 2}},
		Quotas: []quotaRow{{Entity: "client-id app", Values: "producer_byte_rate=1024"}},
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`,
		`data-topic="orders"`, "under-replicated", "offline",
		`data-group="billing" data-topic="orders" data-partition="0">6</td>`, "unknown",
		"orders: 0,2", "tx", "producer_byte_rate=1024", "controller",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http://", "https://"} {
		if strings.Contains(out, banned) {
			t.Errorf("the page contains %q: it must work without scripts or external assets", banned)
		}
	}
}
