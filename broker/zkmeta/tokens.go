package zkmeta

// Delegation tokens, kept as Kafka's ZooKeeper mode keeps them
// (DelegationTokenManagerZk): /delegation_token/tokens/<tokenId> holds
// the token's information in Kafka's JSON (metadata.EncodeTokenZNode),
// never its HMAC; each change is announced, for Kafka brokers sharing the
// ZooKeeper, by /delegation_token/token_changes/token_change_NNNNNNNNNN
// holding the token id. Gregor's brokers watch /delegation_token/tokens
// and each token's znode instead, so a change reaches them as soon as
// ZooKeeper's watch fires. The notifications are purged after
// tokenChangeRetention, as Kafka's listener purges them.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

const (
	tokenRootPath        = "/delegation_token"
	tokensPath           = tokenRootPath + "/tokens"
	tokenChangesPath     = tokenRootPath + "/token_changes"
	tokenChangePrefix    = "token_change_"
	tokenChangeRetention = 15 * time.Minute
	// keyTokens: /delegation_token/tokens children; preToken + id: one
	// token.
	keyTokens = "Tk"
	preToken  = "Tt/"
)

// tokenPaths are created at start-up, as Kafka's createDelegationTokenPaths.
var tokenPaths = []string{tokenRootPath, tokensPath, tokenChangesPath}

func tokenPath(id string) string { return tokensPath + "/" + id }

// tokenCache is the loop's copy of the tokens (guarded by backend.mu).
type tokenCache struct {
	byID    map[string]*metadata.TokenInfo // nil value: not read yet
	read    bool                           // the children were listed once
	changed bool
}

func (b *backend) processTokens() error {
	c := &b.tokens
	ids, err := b.optionalChildren(keyTokens, b.p(tokensPath))
	if err != nil {
		return err
	}
	if c.byID == nil {
		c.byID = map[string]*metadata.TokenInfo{}
	}
	reconcile(c.byID, ids, func(id string) {
		c.byID[id] = nil
		b.mark(preToken + id)
	}, func(id string) {
		delete(c.byID, id)
		c.changed = true
	})
	if !c.read {
		c.read, c.changed = true, true
	}
	return nil
}

func (b *backend) processToken(id string) error {
	c := &b.tokens
	if _, ok := c.byID[id]; !ok {
		return nil
	}
	data, _, ok, err := b.get(preToken+id, b.p(tokenPath(id)))
	if err != nil {
		return err
	}
	if !ok { // deleted: forgotten until listed again (watchCreation)
		delete(c.byID, id)
		c.changed = true
		return nil
	}
	t, err := metadata.DecodeTokenZNode(data)
	if err != nil {
		b.log.Warn().Err(err).Str("token", id).Msg("ignoring malformed delegation token znode")
		return nil
	}
	if cur := c.byID[id]; cur == nil || !cur.Equal(t) {
		c.byID[id], c.changed = &t, true
	}
	return nil
}

// tokenKeys are the loop keys of the tokens known, for a full re-read.
func (b *backend) tokenKeys() []string {
	keys := []string{keyTokens}
	for id := range b.tokens.byID {
		keys = append(keys, preToken+id)
	}
	return keys
}

// takeTokens returns the tokens to deliver if they changed. Called
// holding mu.
func (b *backend) takeTokens() (map[string]metadata.TokenInfo, bool) {
	c := &b.tokens
	if !c.changed || !c.read {
		return nil, false
	}
	c.changed = false
	out := make(map[string]metadata.TokenInfo, len(c.byID))
	for id, t := range maps.All(c.byID) {
		if t != nil {
			out[id] = *t
		}
	}
	return out, true
}

// SetDelegationToken writes a token's znode and announces the change.
func (b *backend) SetDelegationToken(ctx context.Context, t metadata.TokenInfo, create bool) error {
	_, err := withCtx(ctx, func() (struct{}, error) {
		data := metadata.EncodeTokenZNode(t)
		if create {
			if err := b.setOrCreate(tokenPath(t.TokenID), data); err != nil {
				return struct{}{}, err
			}
		} else if _, err := b.conn.Set(b.p(tokenPath(t.TokenID)), data, -1); errors.Is(err, zk.ErrNoNode) {
			return struct{}{}, metadata.ErrTokenGone
		} else if err != nil {
			return struct{}{}, fmt.Errorf("writing %s: %w", tokenPath(t.TokenID), err)
		}
		b.announceToken(t.TokenID)
		return struct{}{}, nil
	})
	return err
}

// DeleteDelegationToken deletes a token's znode and announces the change.
func (b *backend) DeleteDelegationToken(ctx context.Context, id string) error {
	_, err := withCtx(ctx, func() (struct{}, error) {
		if err := b.conn.Delete(b.p(tokenPath(id)), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return struct{}{}, err
		}
		b.announceToken(id)
		return struct{}{}, nil
	})
	return err
}

// announceToken writes a token change notification (for Kafka brokers)
// and, at most once a minute, purges the old ones.
func (b *backend) announceToken(id string) {
	if _, err := b.conn.Create(b.p(tokenChangesPath+"/"+tokenChangePrefix), []byte(id), zk.FlagSequence, b.acl); err != nil {
		b.log.Warn().Err(err).Str("token", id).Msg("writing delegation token change notification")
	}
	b.purgeChanges(tokenChangesPath, tokenChangePrefix, tokenChangeRetention, &b.tokenPurged)
}
