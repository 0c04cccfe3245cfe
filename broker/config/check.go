package config

import (
	"fmt"
	"os"
	"slices"
)

// Check loads a configuration as Load does for gregor check-config, but
// also returns the unknown keys when some values are invalid, so every
// problem is reported at once. c is nil when err is not.
func Check(values map[string]string, overrides map[string]string) (c *Config, unknown []string, err error) {
	merged := make(map[string]string, len(values)+len(overrides))
	for k, v := range values {
		merged[k] = v
	}
	for k, v := range overrides {
		merged[k] = v
	}
	for k := range merged {
		if keys.broker[k] == nil && !ignored(k) && !knownListenerKey(k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	c, err = Load(values, overrides)
	return c, unknown, err
}

// ReadFile reads a server.properties file's values.
func ReadFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, values, err := ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return values, nil
}
