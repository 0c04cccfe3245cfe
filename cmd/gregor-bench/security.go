package main

// gregor-bench security: the cost of SASL_SSL. One broker with a
// PLAINTEXT and a SASL_SSL (SCRAM-SHA-512, TLS 1.3) listener; each round
// produces 1 KB records (acks=1) for the duration and then consumes them
// all, once through each listener, alternating which goes first. The
// certificate is made at start (ECDSA P-256, self-signed, given inline as
// PEM), nothing is written but the broker's data.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func securityCmd(args []string) {
	fs := flag.NewFlagSet("security", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	rounds := fs.Int("rounds", 5, "rounds; medians are reported")
	duration := fs.Duration("duration", 5*time.Second, "how long each run produces")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	certPEM, keyPEM, pool := selfSigned()
	plainAddr, secAddr := freeAddr(), freeAddr()
	jaas := `org.apache.kafka.common.security.scram.ScramLoginModule required username="bench" password="bench-secret";`
	pid, stop := startBroker(ctx, *gregorBin, "sec", plainAddr,
		"listeners=PLAINTEXT://"+plainAddr+",SASL_SSL://"+secAddr,
		"sasl.enabled.mechanisms=SCRAM-SHA-512",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="+jaas,
		"ssl.keystore.type=PEM", "ssl.keystore.certificate.chain="+certPEM, "ssl.keystore.key="+keyPEM)
	defer stop()
	if err := benchUser(ctx, plainAddr); err != nil {
		fail(err)
	}
	secOpts := []kgo.Opt{kgo.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}),
		kgo.SASL(scram.Auth{User: "bench", Pass: "bench-secret"}.AsSha512Mechanism())}
	type run struct {
		name string
		addr string
		opts []kgo.Opt
	}
	runs := []run{{"PLAINTEXT", plainAddr, nil}, {"SASL_SSL", secAddr, secOpts}}
	results := map[string]map[string][]float64{}
	for r := 0; r < *rounds; r++ {
		order := runs
		if r%2 == 1 {
			order = []run{runs[1], runs[0]}
		}
		for _, x := range order {
			prod, cons, err := produceConsume(withBrokerPIDs(ctx, pid), plainAddr, x.addr, *duration, x.opts)
			if err != nil {
				fail(fmt.Errorf("%s: %w", x.name, err))
			}
			if results[x.name] == nil {
				results[x.name] = map[string][]float64{}
			}
			results[x.name]["produce"] = append(results[x.name]["produce"], prod.rate)
			results[x.name]["consume"] = append(results[x.name]["consume"], cons.rate)
			results[x.name]["produce-cpu"] = append(results[x.name]["produce-cpu"], prod.cpuPerMB)
			results[x.name]["consume-cpu"] = append(results[x.name]["consume-cpu"], cons.cpuPerMB)
			fmt.Fprintf(os.Stderr, "round %d %-10s produce %.0f rec/s (broker CPU %.2f ms/MB), consume %.0f rec/s (%.2f ms/MB)\n",
				r+1, x.name, prod.rate, prod.cpuPerMB, cons.rate, cons.cpuPerMB)
		}
	}
	fmt.Printf("| Scenario | PLAINTEXT | SASL_SSL | SASL_SSL/PLAINTEXT |\n|---|---|---|---|\n")
	for _, what := range []string{"produce", "consume"} {
		p, s := median(results["PLAINTEXT"][what]), median(results["SASL_SSL"][what])
		fmt.Printf("| %s 1 KB, records/s | %.0f | %.0f | %.2f |\n", what, p, s, s/p)
		p, s = median(results["PLAINTEXT"][what+"-cpu"]), median(results["SASL_SSL"][what+"-cpu"])
		fmt.Printf("| %s 1 KB, broker CPU ms/MB | %.2f | %.2f | %.2f |\n", what, p, s, s/p)
	}
}

// benchUser creates the SCRAM user through the PLAINTEXT listener.
func benchUser(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bench", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bench-secret"}})
	if err == nil {
		err = res.Error()
	}
	return err
}

// phase is a measured half of produceConsume.
type phase struct{ rate, cpuPerMB float64 }

// cpuPerMB is the broker CPU per MB of a meter's section (0 without one).
func cpuPerMB(m *cpuMeter, records float64) float64 {
	for _, x := range m.metrics(records, 1024) {
		if x.name == "cpu/MB" {
			return x.value
		}
	}
	return 0
}

// produceConsume produces 1 KB records (acks=1, 3 partitions) for d
// through addr, then consumes them all; it returns both rates and the
// broker's CPU per MB of each.
func produceConsume(ctx context.Context, admin, addr string, d time.Duration, opts []kgo.Opt) (phase, phase, error) {
	var none phase
	topic, err := newTopic(ctx, admin, 3)
	if err != nil {
		return none, none, err
	}
	p, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), kgo.MaxBufferedRecords(1 << 16), kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)...)
	if err != nil {
		return none, none, err
	}
	value := make([]byte, 1024)
	rand.Read(value)
	if err := p.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		p.Close()
		return none, none, err
	}
	var acked atomic.Int64
	var perr atomic.Value
	pcpu := startCPU(ctx)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		p.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				perr.CompareAndSwap(nil, err)
				return
			}
			acked.Add(1)
		})
	}
	err = p.Flush(ctx)
	prod := phase{float64(acked.Load()) / time.Since(start).Seconds(), cpuPerMB(pcpu, float64(acked.Load()))}
	p.Close()
	if e := perr.Load(); err == nil && e != nil {
		err = e.(error)
	}
	if err != nil {
		return none, none, err
	}
	total := int(acked.Load()) + 1
	c, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(50 << 20)}, opts...)...)
	if err != nil {
		return none, none, err
	}
	defer c.Close()
	ccpu := startCPU(ctx)
	start = time.Now()
	n := 0
	for n < total {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return none, none, fmt.Errorf("after %d records: %w", n, err)
		}
		n += fs.NumRecords()
	}
	return prod, phase{float64(n) / time.Since(start).Seconds(), cpuPerMB(ccpu, float64(n))}, nil
}

// selfSigned makes a certificate for 127.0.0.1, returned as PEM with its
// PKCS#8 key, and a pool trusting it.
func selfSigned() (string, string, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gregor-bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		fail(err)
	}
	k8, _ := x509.MarshalPKCS8PrivateKey(key)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k8})), pool
}
