package broker

// Client quotas: the backend delivers every entity's quotas
// (ApplyClientQuotas) to the quota manager; intercept.go records what each
// request costs and throttles the client (KIP-219: the response carries
// throttle_time_ms and the connection is muted for it).

import (
	"gregor/broker/metadata"
	"gregor/broker/quota"
	"gregor/protocol"
)

// ApplyClientQuotas takes the quotas (ClientQuotaApplier): the user and
// client-id entities' for the quota manager, the ip entities' for the
// network layer.
func (a applier) ApplyClientQuotas(q metadata.ClientQuotas) {
	clients := metadata.ClientQuotas{}
	for e, v := range q {
		if e.IP == "" {
			clients[e] = v
		}
	}
	a.b.quotaManager().Set(clients)
	a.b.applyIPConnectionRates(q)
	a.b.log.Info().Int("entities", len(q)).Msg("client quotas in force")
}

// quotaManager returns the broker's quota manager.
func (b *Broker) quotaManager() *quota.Manager {
	b.clientQuotasOnce.Do(func() {
		b.clientQuotas = quota.NewManager(quota.Config{
			Samples: b.cfg.QuotaWindowNum, Window: b.cfg.QuotaWindowSize,
			ControllerSamples: b.cfg.ControllerQuotaWindowNum, ControllerWindow: b.cfg.ControllerQuotaWindowSize,
		}, b.now)
	})
	return b.clientQuotas
}

// Quotas is the broker's quota manager (for the metrics endpoint and the
// status page).
func (b *Broker) Quotas() *quota.Manager { return b.quotaManager() }

// quotaClient is who a request comes from, as quotas name clients.
func quotaClient(req *protocol.Request) quota.Client {
	user := protocol.Anonymous.Name
	if req.Conn != nil {
		user = req.Conn.Principal().Name
	}
	return quota.Client{User: metadata.SanitizeEntity(user), ClientID: metadata.SanitizeEntity(req.ClientID)}
}
