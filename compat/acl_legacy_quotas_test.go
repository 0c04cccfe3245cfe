package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Fetch v0-3 (the legacy message formats) is authorized as every other
// version is, as in Kafka: READ on the topic for a consumer, CLUSTER_ACTION
// for a replica id. Gregor served them without a check: anyone who could
// connect, User:ANONYMOUS on a PLAINTEXT listener included, read every
// topic, __consumer_offsets too.
func TestACLLegacyFetch(t *testing.T) {
	a := startACL(t)
	topic := a.topic(t, 1)
	if err := a.client(t, aclAdmin).ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("secret")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetch := func(user string, version int16, replica int32, plain bool) int16 {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = replica, 1<<20, 0
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		var resp kmsg.Response
		if plain {
			resp = a.doPlain(t, req)
		} else {
			vs := kversion.Tip()
			vs.SetMaxKeyVersion(1, version)
			cl := a.client(t, user, kgo.MaxVersions(vs))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var err error
			if resp, err = cl.SeedBrokers()[0].Request(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		fr := resp.(*kmsg.FetchResponse)
		if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch v%d: %d topics", version, len(fr.Topics))
		}
		p := fr.Topics[0].Partitions[0]
		if p.ErrorCode != 0 && len(p.RecordBatches) > 0 {
			t.Fatalf("fetch v%d answered %v with %d bytes of records", version, kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
		}
		return p.ErrorCode
	}
	for v := int16(0); v <= 3; v++ {
		wantCode(t, fmt.Sprintf("fetch v%d without READ", v), fetch(aclAlice, v, -1, false), kerr.TopicAuthorizationFailed)
		wantCode(t, fmt.Sprintf("fetch v%d on PLAINTEXT (User:ANONYMOUS)", v), fetch("", v, -1, true), kerr.TopicAuthorizationFailed)
	}
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(topic).Operations(kadm.OpRead))
	for v := int16(0); v <= 3; v++ {
		wantCode(t, fmt.Sprintf("fetch v%d with READ", v), fetch(aclAlice, v, -1, false), nil)
		wantCode(t, fmt.Sprintf("fetch v%d with a replica id, without CLUSTER_ACTION", v), fetch(aclAlice, v, 7, false), kerr.TopicAuthorizationFailed)
	}
}

// DescribeClientQuotas needs DESCRIBE_CONFIGS, and AlterClientQuotas
// ALTER_CONFIGS, on the cluster, as in Kafka (else
// CLUSTER_AUTHORIZATION_FAILED). Gregor let anyone read every quota, and
// set any: throttle the super user, or lift their own limits.
func TestACLClientQuotas(t *testing.T) {
	a := startACL(t)
	describe := func(user string) int16 {
		t.Helper()
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		return a.do(t, user, req).(*kmsg.DescribeClientQuotasResponse).ErrorCode
	}
	alter := func(user string) int16 {
		t.Helper()
		req := kmsg.NewPtrAlterClientQuotasRequest()
		e := kmsg.NewAlterClientQuotasRequestEntry()
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type, ent.Name = "user", kmsg.StringPtr("quota-test-nobody")
		e.Entity = append(e.Entity, ent)
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value = "producer_byte_rate", 1024
		e.Ops = append(e.Ops, op)
		req.Entries = append(req.Entries, e)
		resp := a.do(t, user, req).(*kmsg.AlterClientQuotasResponse)
		if len(resp.Entries) != 1 {
			t.Fatalf("AlterClientQuotas answered %d entries", len(resp.Entries))
		}
		return resp.Entries[0].ErrorCode
	}
	wantCode(t, "DescribeClientQuotas without DESCRIBE_CONFIGS on the cluster", describe(aclAlice), kerr.ClusterAuthorizationFailed)
	wantCode(t, "AlterClientQuotas without ALTER_CONFIGS on the cluster", alter(aclAlice), kerr.ClusterAuthorizationFailed)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	qs, err := a.admin(t).DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: kmsg.StringPtr("quota-test-nobody")}})
	if err != nil || len(qs) != 0 {
		t.Fatalf("quotas after the refused alteration: %+v %v, want none", qs, err)
	}
	// The broker is shared: what is granted here is revoked, and the
	// quota set is on a user no test is.
	t.Cleanup(func() {
		a.revoke(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpDescribeConfigs, kadm.OpAlterConfigs))
	})
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpDescribeConfigs))
	wantCode(t, "DescribeClientQuotas with DESCRIBE_CONFIGS on the cluster", describe(aclAlice), nil)
	wantCode(t, "AlterClientQuotas with only DESCRIBE_CONFIGS", alter(aclAlice), kerr.ClusterAuthorizationFailed)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Clusters().Operations(kadm.OpAlterConfigs))
	wantCode(t, "AlterClientQuotas with ALTER_CONFIGS on the cluster", alter(aclAlice), nil)
}
