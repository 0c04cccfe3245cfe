package zkmeta_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/zkmeta"
	"gregor/internal/zktest"
)

// quotaApplier is a fakeApplier that also takes client quotas.
type quotaApplier struct {
	*fakeApplier
	qmu    sync.Mutex
	quotas metadata.ClientQuotas
}

func (q *quotaApplier) ApplyClientQuotas(c metadata.ClientQuotas) {
	q.qmu.Lock()
	defer q.qmu.Unlock()
	q.quotas = c
}

func (q *quotaApplier) get(e metadata.QuotaEntity, key string) (float64, bool) {
	q.qmu.Lock()
	defer q.qmu.Unlock()
	v, ok := q.quotas[e][key]
	return v, ok
}

func startWithQuotas(t *testing.T, connect string, id int32) (metadata.Backend, *quotaApplier) {
	t.Helper()
	be, err := zkmeta.New(zkmeta.Options{Connect: connect, SessionTimeout: 4 * time.Second,
		Self:   metadata.BrokerInfo{ID: id, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9090 + id}}},
		Config: &config.Config{DeleteTopicEnable: true, NumPartitions: 1, DefaultReplicationFactor: 1}, Log: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	a := &quotaApplier{fakeApplier: &fakeApplier{topics: map[string]metadata.TopicState{}, controller: -1}}
	if err := be.Start(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be, a
}

// quotaPair is brokers 1 and 2 on a new ZooKeeper (chroot /quotas):
// broker 1's backend to write through, broker 2's applier to see what
// reached it, a raw session, and a context for the test's calls.
type quotaPair struct {
	zkAddr string
	be1    metadata.Backend
	qb     metadata.QuotaBackend
	a2     *quotaApplier
	raw    *zk.Conn
	ctx    context.Context
}

func startQuotaPair(t *testing.T) quotaPair {
	t.Helper()
	z := zktest.Start(t)
	connect := z.Addr + "/quotas"
	be1, _ := startWithQuotas(t, connect, 1)
	_, a2 := startWithQuotas(t, connect, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return quotaPair{zkAddr: z.Addr, be1: be1, qb: be1.(metadata.QuotaBackend), a2: a2, raw: rawConn(t, z.Addr), ctx: ctx}
}

// testCred is a SCRAM credential to give users.
var testCred = metadata.ScramCredential{Salt: []byte("salt"), StoredKey: []byte("stored"), ServerKey: []byte("server"), Iterations: 4096}

// TestClientQuotasInZooKeeper: quotas are stored where Kafka stores them,
// next to a user's SCRAM credentials without disturbing them, reach every
// broker through watches (written by Gregor or by Kafka's tools), and are
// read back from the store.
func TestClientQuotasInZooKeeper(t *testing.T) {
	q := startQuotaPair(t)
	be1, qb, a2, ctx := q.be1, q.qb, q.a2, q.ctx
	if err := be1.AlterUserScramCredentials(ctx, metadata.ScramAlteration{User: "alice", Upsert: map[string]metadata.ScramCredential{"SCRAM-SHA-256": testCred}}); err != nil {
		t.Fatal(err)
	}
	alice := metadata.QuotaEntity{User: "alice"}
	aliceApp := metadata.QuotaEntity{User: "alice", ClientID: "app"}
	anyClient := metadata.QuotaEntity{ClientID: metadata.DefaultEntity}
	for _, a := range []metadata.QuotaAlteration{
		{Entity: alice, Set: map[string]float64{metadata.ProducerByteRate: 1024}},
		{Entity: aliceApp, Set: map[string]float64{metadata.RequestPercentage: 25.5}},
		{Entity: anyClient, Set: map[string]float64{metadata.ConsumerByteRate: 4096}},
	} {
		if err := qb.AlterClientQuota(ctx, a); err != nil {
			t.Fatalf("altering %s: %v", a.Entity.Path(), err)
		}
	}
	await(t, "broker 2 to hear of the three entities", func() bool {
		v1, _ := a2.get(alice, metadata.ProducerByteRate)
		v2, _ := a2.get(aliceApp, metadata.RequestPercentage)
		v3, _ := a2.get(anyClient, metadata.ConsumerByteRate)
		return v1 == 1024 && v2 == 25.5 && v3 == 4096
	})
	c := q.raw
	var userCfg struct {
		Config map[string]string `json:"config"`
	}
	getJSON(t, c, "/quotas/config/users/alice", &userCfg)
	if userCfg.Config["producer_byte_rate"] != "1024" || userCfg.Config["SCRAM-SHA-256"] == "" {
		t.Errorf("/config/users/alice holds %v, want the quota beside the SCRAM credential", userCfg.Config)
	}
	getJSON(t, c, "/quotas/config/users/alice/clients/app", &userCfg)
	if userCfg.Config["request_percentage"] != "25.5" {
		t.Errorf("/config/users/alice/clients/app holds %v", userCfg.Config)
	}
	getJSON(t, c, "/quotas/config/clients/<default>", &userCfg)
	if userCfg.Config["consumer_byte_rate"] != "4096" {
		t.Errorf("/config/clients/<default> holds %v", userCfg.Config)
	}

	// Removing alice's quota keeps her credential.
	if err := qb.AlterClientQuota(ctx, metadata.QuotaAlteration{Entity: alice, Remove: []string{metadata.ProducerByteRate}}); err != nil {
		t.Fatal(err)
	}
	await(t, "broker 2 to drop alice's quota", func() bool { _, ok := a2.get(alice, metadata.ProducerByteRate); return !ok })
	creds, err := be1.UserScramCredentials(ctx)
	if err != nil || creds["alice"]["SCRAM-SHA-256"].Iterations != 4096 {
		t.Errorf("alice's credential after her quota went: %v %v", creds, err)
	}

	// A quota written as Kafka's kafka-configs.sh writes it.
	data, _ := json.Marshal(map[string]any{"version": 1, "config": map[string]string{"producer_byte_rate": "2048"}})
	if _, err := c.Create("/quotas/config/clients/from-kafka", data, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	await(t, "broker 2 to hear of a quota written by another tool", func() bool {
		v, _ := a2.get(metadata.QuotaEntity{ClientID: "from-kafka"}, metadata.ProducerByteRate)
		return v == 2048
	})
	stored, err := qb.ClientQuotas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 || stored[aliceApp][metadata.RequestPercentage] != 25.5 || stored[metadata.QuotaEntity{ClientID: "from-kafka"}][metadata.ProducerByteRate] != 2048 {
		t.Errorf("read from ZooKeeper: %v", stored)
	}

	// ip entities (KIP-612's connection_creation_rate) live under
	// /config/ips, sanitized as Kafka sanitizes them, the default as
	// <default>; one written by Kafka's tools is heard too.
	v6 := metadata.QuotaEntity{IP: metadata.SanitizeEntity("::1")}
	anyIP := metadata.QuotaEntity{IP: metadata.DefaultEntity}
	for _, a := range []metadata.QuotaAlteration{
		{Entity: v6, Set: map[string]float64{metadata.ConnectionCreationRate: 5}},
		{Entity: anyIP, Set: map[string]float64{metadata.ConnectionCreationRate: 50}},
	} {
		if err := qb.AlterClientQuota(ctx, a); err != nil {
			t.Fatalf("altering %s: %v", a.Entity.Path(), err)
		}
	}
	getJSON(t, c, "/quotas/config/ips/%3A%3A1", &userCfg)
	if userCfg.Config["connection_creation_rate"] != "5" {
		t.Errorf("/config/ips/%%3A%%3A1 holds %v", userCfg.Config)
	}
	data, _ = json.Marshal(map[string]any{"version": 1, "config": map[string]string{"connection_creation_rate": "7"}})
	if _, err := c.Create("/quotas/config/ips/10.1.2.3", data, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	await(t, "broker 2 to hear of the three ip entities", func() bool {
		v1, _ := a2.get(v6, metadata.ConnectionCreationRate)
		v2, _ := a2.get(anyIP, metadata.ConnectionCreationRate)
		v3, _ := a2.get(metadata.QuotaEntity{IP: "10.1.2.3"}, metadata.ConnectionCreationRate)
		return v1 == 5 && v2 == 50 && v3 == 7
	})
	if err := qb.AlterClientQuota(ctx, metadata.QuotaAlteration{Entity: v6, Remove: []string{metadata.ConnectionCreationRate}}); err != nil {
		t.Fatal(err)
	}
	await(t, "broker 2 to drop ::1's rate", func() bool { _, ok := a2.get(v6, metadata.ConnectionCreationRate); return !ok })
	if stored, err := qb.ClientQuotas(ctx); err != nil || stored[anyIP][metadata.ConnectionCreationRate] != 50 || len(stored) != 5 {
		t.Errorf("read from ZooKeeper with ip entities: %v %v", stored, err)
	}
}

// TestDeletedQuotaEntitiesLeaveNoWatches: a quota entity whose znode is
// deleted (a SCRAM user whose last credential went, a client or ip config
// removed by a ZooKeeper tool) leaves no watch for its creation behind,
// nor one for its clients' creation; ZooKeeper keeps such a watch, and the
// broker a goroutine waiting on it, until the znode is created, which for
// most deleted entities is never. One created again is still heard.
func TestDeletedQuotaEntitiesLeaveNoWatches(t *testing.T) {
	q := startQuotaPair(t)
	be1, qb, a2, c, ctx := q.be1, q.qb, q.a2, q.raw, q.ctx
	for i := range 5 {
		user := fmt.Sprintf("gone-user-%d", i)
		client := metadata.QuotaEntity{ClientID: fmt.Sprintf("gone-client-%d", i)}
		ip := metadata.QuotaEntity{IP: fmt.Sprintf("10.0.0.%d", i)}
		if err := be1.AlterUserScramCredentials(ctx, metadata.ScramAlteration{User: user, Upsert: map[string]metadata.ScramCredential{"SCRAM-SHA-256": testCred}}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []metadata.QuotaAlteration{
			{Entity: metadata.QuotaEntity{User: user}, Set: map[string]float64{metadata.ProducerByteRate: 1024}},
			{Entity: client, Set: map[string]float64{metadata.ProducerByteRate: 2048}},
			{Entity: ip, Set: map[string]float64{metadata.ConnectionCreationRate: 5}},
		} {
			if err := qb.AlterClientQuota(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		await(t, "broker 2 to hear of "+user+"'s, "+client.ClientID+"'s and "+ip.IP+"'s quotas", func() bool {
			v1, _ := a2.get(metadata.QuotaEntity{User: user}, metadata.ProducerByteRate)
			v2, _ := a2.get(client, metadata.ProducerByteRate)
			v3, _ := a2.get(ip, metadata.ConnectionCreationRate)
			return v1 == 1024 && v2 == 2048 && v3 == 5
		})
		for _, p := range []string{"/quotas/config/users/" + user, "/quotas/config/clients/" + client.ClientID, "/quotas/config/ips/" + ip.IP} {
			if err := c.Delete(p, -1); err != nil {
				t.Fatalf("deleting %s: %v", p, err)
			}
		}
		await(t, "broker 2 to drop "+user+"'s, "+client.ClientID+"'s and "+ip.IP+"'s quotas", func() bool {
			_, ok1 := a2.get(metadata.QuotaEntity{User: user}, metadata.ProducerByteRate)
			_, ok2 := a2.get(client, metadata.ProducerByteRate)
			_, ok3 := a2.get(ip, metadata.ConnectionCreationRate)
			return !ok1 && !ok2 && !ok3
		})
	}
	awaitNoWatches(t, q.zkAddr, "/gone-", "/10.0.0.")
	// Created again, with a client under the user: heard.
	again := metadata.QuotaEntity{User: "gone-user-0", ClientID: "app"}
	for _, a := range []metadata.QuotaAlteration{
		{Entity: metadata.QuotaEntity{ClientID: "gone-client-0"}, Set: map[string]float64{metadata.ProducerByteRate: 4096}},
		{Entity: again, Set: map[string]float64{metadata.ConsumerByteRate: 8192}},
	} {
		if err := qb.AlterClientQuota(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	await(t, "broker 2 to hear of the quotas set again", func() bool {
		v1, _ := a2.get(metadata.QuotaEntity{ClientID: "gone-client-0"}, metadata.ProducerByteRate)
		v2, _ := a2.get(again, metadata.ConsumerByteRate)
		return v1 == 4096 && v2 == 8192
	})
}

// TestEmptiedQuotaEntitiesAreDeleted: an entity left with no quota and no
// SCRAM credential is gone, as Kafka 4 forgets a quota entity whose last
// quota is removed (ClientQuotaControlManager) and a user whose last
// credential is deleted: its znode is deleted, and no broker watches it.
// Gregor wrote an empty config, so every client id and user ever given a
// quota or a credential kept a znode and a watch on every broker (a
// goroutine each) for ever.
func TestEmptiedQuotaEntitiesAreDeleted(t *testing.T) {
	q := startQuotaPair(t)
	be1, qb, a2, c, ctx := q.be1, q.qb, q.a2, q.raw, q.ctx
	for i := range 5 {
		user := fmt.Sprintf("emptied-user-%d", i)
		client := metadata.QuotaEntity{ClientID: fmt.Sprintf("emptied-client-%d", i)}
		userClient := metadata.QuotaEntity{User: user, ClientID: "app"}
		if err := be1.AlterUserScramCredentials(ctx, metadata.ScramAlteration{User: user, Upsert: map[string]metadata.ScramCredential{"SCRAM-SHA-256": testCred}}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []metadata.QuotaAlteration{
			{Entity: metadata.QuotaEntity{User: user}, Set: map[string]float64{metadata.ProducerByteRate: 1024}},
			{Entity: client, Set: map[string]float64{metadata.ProducerByteRate: 2048}},
			{Entity: userClient, Set: map[string]float64{metadata.ProducerByteRate: 4096}},
		} {
			if err := qb.AlterClientQuota(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		await(t, "broker 2 to hear of "+user+"'s and "+client.ClientID+"'s quotas", func() bool {
			v1, _ := a2.get(metadata.QuotaEntity{User: user}, metadata.ProducerByteRate)
			v2, _ := a2.get(client, metadata.ProducerByteRate)
			v3, _ := a2.get(userClient, metadata.ProducerByteRate)
			return v1 == 1024 && v2 == 2048 && v3 == 4096
		})
		for _, a := range []metadata.QuotaAlteration{
			{Entity: client, Remove: []string{metadata.ProducerByteRate}},
			{Entity: userClient, Remove: []string{metadata.ProducerByteRate}},
			{Entity: metadata.QuotaEntity{User: user}, Remove: []string{metadata.ProducerByteRate}},
		} {
			if err := qb.AlterClientQuota(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if ok, _, _ := c.Exists("/quotas/config/users/" + user); !ok {
			t.Fatalf("%s's znode was deleted while it holds a credential", user)
		}
		if err := be1.AlterUserScramCredentials(ctx, metadata.ScramAlteration{User: user, Deletes: []string{"SCRAM-SHA-256"}}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/quotas/config/users/" + user, "/quotas/config/clients/" + client.ClientID} {
			if ok, _, err := c.Exists(p); err != nil || ok {
				t.Errorf("%s left behind once empty (err %v)", p, err)
			}
		}
	}
	awaitNoWatches(t, q.zkAddr, "/emptied-")
	// Set again: heard.
	if err := qb.AlterClientQuota(ctx, metadata.QuotaAlteration{Entity: metadata.QuotaEntity{ClientID: "emptied-client-0"}, Set: map[string]float64{metadata.ProducerByteRate: 99}}); err != nil {
		t.Fatal(err)
	}
	await(t, "broker 2 to hear of emptied-client-0's quota set again", func() bool {
		v, _ := a2.get(metadata.QuotaEntity{ClientID: "emptied-client-0"}, metadata.ProducerByteRate)
		return v == 99
	})
}

// The names "." and "..", which ZooKeeper refuses as path elements, are
// stored with their dots encoded: a quota and a SCRAM credential of user
// ".." and the configs of group "." reach the other broker. They failed
// with "zk: invalid path" (KAFKA_STORAGE_ERROR to the client).
func TestDotNamesAreStored(t *testing.T) {
	q := startQuotaPair(t)
	be1, qb, a2, ctx := q.be1, q.qb, q.a2, q.ctx
	dots := metadata.QuotaEntity{User: metadata.SanitizeEntity("..")}
	dot := metadata.QuotaEntity{User: metadata.SanitizeEntity("."), ClientID: metadata.SanitizeEntity("..")}
	for _, e := range []metadata.QuotaEntity{dots, dot} {
		if err := qb.AlterClientQuota(ctx, metadata.QuotaAlteration{Entity: e, Set: map[string]float64{metadata.ProducerByteRate: 2048}}); err != nil {
			t.Fatalf("altering the quota of %s: %v", e.Path(), err)
		}
	}
	if err := be1.AlterUserScramCredentials(ctx, metadata.ScramAlteration{User: "..", Upsert: map[string]metadata.ScramCredential{"SCRAM-SHA-256": testCred}}); err != nil {
		t.Fatalf("storing a credential of user \"..\": %v", err)
	}
	if err := be1.(interface {
		AlterGroupConfigs(context.Context, string, map[string]string) error
	}).AlterGroupConfigs(ctx, ".", map[string]string{"consumer.session.timeout.ms": "45000"}); err != nil {
		t.Fatalf("storing the configs of group \".\": %v", err)
	}
	await(t, "broker 2 to hear of the quotas of users \"..\" and \".\"/\"..\"", func() bool {
		v1, _ := a2.get(dots, metadata.ProducerByteRate)
		v2, _ := a2.get(dot, metadata.ProducerByteRate)
		return v1 == 2048 && v2 == 2048
	})
	var cfg struct {
		Config map[string]string `json:"config"`
	}
	getJSON(t, q.raw, "/quotas/config/users/%2E%2E", &cfg)
	if cfg.Config["SCRAM-SHA-256"] == "" || cfg.Config["producer_byte_rate"] != "2048" {
		t.Errorf("/config/users/%%2E%%2E holds %v, want the quota beside the credential", cfg.Config)
	}
	getJSON(t, q.raw, "/quotas/config/groups/%2E", &cfg)
	if cfg.Config["consumer.session.timeout.ms"] != "45000" {
		t.Errorf("/config/groups/%%2E holds %v", cfg.Config)
	}
	for _, name := range []string{".", "..", "a.b", "..."} {
		if got, err := metadata.DesanitizeEntity(metadata.SanitizeEntity(name)); err != nil || got != name {
			t.Errorf("%q sanitized and back: %q, %v", name, got, err)
		}
	}
}
