package config

import "time"

// DelegationTokens are delegation.token.* (KIP-48), as Kafka's
// KafkaConfig reads them: tokens are enabled when SecretKey (or its
// deprecated synonym delegation.token.master.key) is set and not empty.
type DelegationTokens struct {
	SecretKey           Secret
	MaxLifetime         time.Duration // delegation.token.max.lifetime.ms
	ExpiryTime          time.Duration // delegation.token.expiry.time.ms
	ExpiryCheckInterval time.Duration // delegation.token.expiry.check.interval.ms
}

// Enabled is Kafka's tokenAuthEnabled.
func (d DelegationTokens) Enabled() bool { return d.SecretKey != "" }
