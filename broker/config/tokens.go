package config

import "time"

// DelegationTokens are delegation.token.* (KIP-48), as Kafka's
// KafkaConfig reads them: tokens are enabled when SecretKey is set and
// not empty (Kafka 4.0 removed its old name, delegation.token.master.key).
type DelegationTokens struct {
	SecretKey           Secret
	MaxLifetime         time.Duration // delegation.token.max.lifetime.ms
	ExpiryTime          time.Duration // delegation.token.expiry.time.ms
	ExpiryCheckInterval time.Duration // delegation.token.expiry.check.interval.ms
}

// Enabled is Kafka's tokenAuthEnabled.
func (d DelegationTokens) Enabled() bool { return d.SecretKey != "" }
