package broker

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/zkmeta"
	"gregor/internal/zktest"
	"gregor/protocol"
)

// TestAlterPasswordWithoutEncoderSecret: in a cluster without
// password.encoder.secret, AlterConfigs and IncrementalAlterConfigs of a
// password answer Kafka's INVALID_CONFIG and message (ZkAdminManager:
// toPersistentProps' ConfigException); validateOnly passes, as in Kafka,
// which encrypts only what it stores.
func TestAlterPasswordWithoutEncoderSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ZooKeeper")
	}
	z := zktest.Start(t)
	cfg, err := config.Load(map[string]string{"broker.id": "1", "log.dirs": t.TempDir(), "zookeeper.connect": z.Addr + "/kafka/alterpw",
		"listeners": "PLAINTEXT://127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	be, err := zkmeta.New(zkmeta.Options{Connect: cfg.ZookeeperConnect, SessionTimeout: 4 * time.Second, Self: SelfInfo(cfg), Config: cfg, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	reg := protocol.NewRegistry()
	b.Register(reg)
	tb := &testBroker{t: t, Broker: b, reg: reg}

	const want = "Invalid config value for resource ConfigResource(type=BROKER, name='1'): Password encoder secret not configured"
	pw := "listener.name.external.plain.sasl.jaas.config" // a listener to come: an existing one's JAAS config is fixed
	for _, validateOnly := range []bool{true, false} {
		req := kmsg.NewPtrAlterConfigsRequest()
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = pw, kmsg.StringPtr(`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b";`)
		r.Configs = append(r.Configs, c)
		req.Resources, req.ValidateOnly = append(req.Resources, r), validateOnly
		got := tb.call(req).(*kmsg.AlterConfigsResponse).Resources[0]
		if validateOnly {
			if got.ErrorCode != 0 {
				t.Fatalf("validateOnly: %d %v", got.ErrorCode, got.ErrorMessage)
			}
			continue
		}
		if got.ErrorCode != kerr.InvalidConfig.Code || got.ErrorMessage == nil || *got.ErrorMessage != want {
			t.Fatalf("AlterConfigs: %d %v, want INVALID_CONFIG %q", got.ErrorCode, got.ErrorMessage, want)
		}
	}
	ireq := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	ic := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ic.Name, ic.Value = "listener.name.plaintext.ssl.key.password", kmsg.StringPtr("pw")
	ir.Configs = append(ir.Configs, ic)
	ireq.Resources = append(ireq.Resources, ir)
	got := tb.call(ireq).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
	if got.ErrorCode != kerr.InvalidConfig.Code || got.ErrorMessage == nil || *got.ErrorMessage != want {
		t.Fatalf("IncrementalAlterConfigs: %d %v, want INVALID_CONFIG %q", got.ErrorCode, got.ErrorMessage, want)
	}
}
