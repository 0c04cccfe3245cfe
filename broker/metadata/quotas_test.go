package metadata

import (
	"context"
	"testing"
)

type quotaApplier struct {
	nopApplier
	got ClientQuotas
}

func (q *quotaApplier) ApplyClientQuotas(c ClientQuotas) { q.got = c }

// TestLocalQuotasPersist: a single broker's quotas are saved in its
// metadata file, delivered at once and again after a restart.
func TestLocalQuotasPersist(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a := &quotaApplier{}
	l := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	e := QuotaEntity{User: DefaultEntity, ClientID: "app"}
	if err := l.(QuotaBackend).AlterClientQuota(ctx, QuotaAlteration{Entity: e, Set: map[string]float64{ProducerByteRate: 100, RequestPercentage: 12.5}}); err != nil {
		t.Fatal(err)
	}
	if a.got[e][ProducerByteRate] != 100 {
		t.Fatalf("delivered %v", a.got)
	}
	a2 := &quotaApplier{}
	l2 := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l2.Start(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if a2.got[e][RequestPercentage] != 12.5 || a2.got[e][ProducerByteRate] != 100 {
		t.Errorf("after a restart delivered %v", a2.got)
	}
	if err := l2.(QuotaBackend).AlterClientQuota(ctx, QuotaAlteration{Entity: e, Remove: []string{ProducerByteRate, RequestPercentage}}); err != nil {
		t.Fatal(err)
	}
	if q, _ := l2.(QuotaBackend).ClientQuotas(ctx); len(q) != 0 {
		t.Errorf("after removing every key: %v", q)
	}
}

func TestQuotaPathsAndFormat(t *testing.T) {
	for _, e := range []QuotaEntity{{User: "u"}, {ClientID: "c"}, {User: "<default>", ClientID: "c%2Fx"}} {
		if got, ok := ParseQuotaPath(e.Path()); !ok || got != e {
			t.Errorf("%v -> %q -> %v %v", e, e.Path(), got, ok)
		}
	}
	for _, bad := range []string{"", "users", "users/", "users/u/clients", "brokers/1", "users/u/topics/t"} {
		if _, ok := ParseQuotaPath(bad); ok {
			t.Errorf("%q parsed as a quota entity", bad)
		}
	}
	for key, want := range map[string]string{ProducerByteRate: "1024", RequestPercentage: "1024.0", ControllerMutationRate: "1024.0"} {
		if got := FormatQuota(key, 1024); got != want {
			t.Errorf("FormatQuota(%s, 1024) = %q, want %q (as Kafka writes it)", key, got, want)
		}
	}
}

// A quota of user ".." saved before SanitizeEntity encoded the dots (kept
// under users/..) moves to the key its lookups use now (users/%2E%2E) when
// the file is read, so it stays in force and can be removed.
func TestLocalDotQuotasMoveToEncodedKeys(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l.Start(ctx, &quotaApplier{}); err != nil {
		t.Fatal(err)
	}
	old := QuotaEntity{User: "..", ClientID: "."} // as the old SanitizeEntity left them
	if err := l.(QuotaBackend).AlterClientQuota(ctx, QuotaAlteration{Entity: old, Set: map[string]float64{ProducerByteRate: 100}}); err != nil {
		t.Fatal(err)
	}
	a := &quotaApplier{}
	l2 := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l2.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	now := QuotaEntity{User: SanitizeEntity(".."), ClientID: SanitizeEntity(".")}
	if a.got[now][ProducerByteRate] != 100 || len(a.got) != 1 {
		t.Fatalf("after a restart delivered %v, want the quota under %s", a.got, now.Path())
	}
	if err := l2.(QuotaBackend).AlterClientQuota(ctx, QuotaAlteration{Entity: now, Remove: []string{ProducerByteRate}}); err != nil {
		t.Fatal(err)
	}
	l3 := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l3.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	if q, _ := l3.(QuotaBackend).ClientQuotas(ctx); len(q) != 0 {
		t.Errorf("after removing it and a restart: %v", q)
	}
}
