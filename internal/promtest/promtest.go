// Package promtest scrapes a Prometheus endpoint in tests and parses it
// with the Prometheus text parser, and lists the metrics a Grafana
// dashboard queries.
package promtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is a parsed scrape by metric family name.
type Families map[string]*dto.MetricFamily

// Scrape fetches url and parses it with the Prometheus text parser.
func Scrape(t testing.TB, url string) Families {
	t.Helper()
	f, err := TryScrape(url)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TryScrape is Scrape returning the error.
func TryScrape(url string) (Families, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	return fams, nil
}

// Value returns the value of the sample of family name whose labels
// include every pair given (name, value, name, value, ...), and whether
// there is one. A histogram's value is its sample count.
func (f Families) Value(name string, labels ...string) (float64, bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.Label {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Has reports whether a name a query uses is in the scrape: a family, or
// a histogram's or summary's _bucket, _sum or _count series.
func (f Families) Has(name string) bool {
	if f[name] != nil {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && f[base] != nil {
			t := f[base].GetType()
			return t == dto.MetricType_HISTOGRAM || t == dto.MetricType_SUMMARY
		}
	}
	return false
}

var metricName = regexp.MustCompile(`\b(?:gregor|go|process)_[a-zA-Z0-9_]+`)

// DashboardMetrics lists the metric names the queries of a Grafana
// dashboard JSON file use (its panels' and variables' expressions).
func DashboardMetrics(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	add := func(expr string) {
		for _, n := range metricName.FindAllString(expr, -1) {
			seen[n] = true
		}
	}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			add(t.Expr)
		}
	}
	for _, v := range d.Templating.List {
		add(v.Definition)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
