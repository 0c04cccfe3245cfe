package compat

// KIP-848 with librdkafka (kcat): group.protocol=consumer exists from
// librdkafka 2.4 (early access) and is complete in 2.10. The test asks the
// installed librdkafka whether it knows the property and skips, saying
// which version it found, when it does not.

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLibrdkafkaConsumerProtocol(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed")
	}
	addr := bootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	probe, _ := exec.CommandContext(ctx, "kcat", "-X", "group.protocol=consumer", "-b", addr, "-L", "-m", "5").CombinedOutput()
	if strings.Contains(string(probe), "No such configuration property") {
		ver, _ := exec.CommandContext(ctx, "kcat", "-V").CombinedOutput()
		t.Skipf("the installed librdkafka has no group.protocol (KIP-848 needs librdkafka 2.4+): %s", firstLineWith(string(ver), "librdkafka"))
	}
	topic, group := randomName("rdk848"), randomName("rdk848g")
	createTopic(t, addr, topic, 3)
	vals := values848("r", 30)
	produce848(t, addr, topic, vals)
	out, err := exec.CommandContext(ctx, "kcat", "-b", addr, "-G", group, "-X", "group.protocol=consumer",
		"-X", "auto.offset.reset=earliest", "-c", strconv.Itoa(len(vals)), "-e", "-f", "%s\n", topic).Output()
	if err != nil {
		t.Fatalf("kcat -G with group.protocol=consumer: %v\n%s", err, out)
	}
	if got := toolLines(string(out)); !sameStrings(got, vals) {
		t.Fatalf("kcat read %v, want %v", got, vals)
	}
}

func firstLineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(s)
}
