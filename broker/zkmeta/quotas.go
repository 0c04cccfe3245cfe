package zkmeta

// Client quotas, kept as Kafka keeps them in ZooKeeper mode: the quota
// keys of the entity configs /config/users/<user>,
// /config/users/<user>/clients/<client>, /config/clients/<client> and
// /config/ips/<ip>
// ({"version":1,"config":{"producer_byte_rate":"1024"}}; names sanitized,
// <default> for a default), each change announced by
// /config/changes/config_change_NNN {"version":2,"entity_path":"..."}. A
// user's config also holds its SCRAM credentials (users.go): each side
// keeps the other's keys. Every broker watches the four trees with their
// own watches, apart from the SCRAM ones, so each delivers a complete set.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

const (
	configClientsPath = "/config/clients"
	configIPsPath     = "/config/ips"
)

// Loop keys of the quota trees.
const (
	keyQUsers       = "Qa"  // /config/users children
	preQUser        = "Qb/" // + user: its config
	preQUserClients = "Qc/" // + user: /config/users/<user>/clients children
	preQUserClient  = "Qd/" // + user/client: its config
	keyQClients     = "Qe"  // /config/clients children
	preQClient      = "Qf/" // + client: its config
	keyQIPs         = "Qg"  // /config/ips children
	preQIP          = "Qh/" // + ip: its config
)

// quotaCache is the loop's copy of the quotas (guarded by backend.mu).
type quotaCache struct {
	entities map[string]map[string]float64 // by entity path
	users    map[string]map[string]bool    // known users and their clients
	clients  map[string]bool
	ips      map[string]bool
	// readUsers, readClients and readIPs: the roots were listed once.
	readUsers, readClients, readIPs bool
	changed                         bool
}

func (q *quotaCache) init() {
	if q.entities == nil {
		q.entities = map[string]map[string]float64{}
		q.users = map[string]map[string]bool{}
		q.clients = map[string]bool{}
		q.ips = map[string]bool{}
	}
}

// set records an entity's quotas (nil: none), noting a change.
func (q *quotaCache) set(path string, v map[string]float64) {
	if old, ok := q.entities[path]; ok == (len(v) > 0) && maps.Equal(old, v) {
		return
	}
	if len(v) == 0 {
		delete(q.entities, path)
	} else {
		q.entities[path] = v
	}
	q.changed = true
}

// quotaKeys are the loop keys of every known quota znode, for a full
// re-read.
func (b *backend) quotaKeys() []string {
	keys := []string{keyQUsers, keyQClients, keyQIPs}
	q := &b.quotas
	for u, cs := range q.users {
		keys = append(keys, preQUser+u, preQUserClients+u)
		for c := range cs {
			keys = append(keys, preQUserClient+u+"/"+c)
		}
	}
	for c := range q.clients {
		keys = append(keys, preQClient+c)
	}
	for ip := range q.ips {
		keys = append(keys, preQIP+ip)
	}
	return keys
}

// processQuota reads the quota znode a key names.
func (b *backend) processQuota(key string) error {
	q := &b.quotas
	q.init()
	switch {
	case key == keyQUsers:
		return b.processQuotaUsers()
	case key == keyQClients:
		return b.processQuotaClients()
	case key == keyQIPs:
		return b.processQuotaIPs()
	case strings.HasPrefix(key, preQIP):
		ip := key[len(preQIP):]
		if !q.ips[ip] {
			return nil
		}
		return b.readQuota(key, "ips/"+ip, func() { delete(q.ips, ip) })
	case strings.HasPrefix(key, preQUser):
		u := key[len(preQUser):]
		if _, ok := q.users[u]; !ok {
			return nil
		}
		return b.readQuota(key, "users/"+u, func() { q.forgetUser(u) })
	case strings.HasPrefix(key, preQUserClients):
		return b.processQuotaUserClients(key[len(preQUserClients):])
	case strings.HasPrefix(key, preQUserClient):
		u, c, _ := strings.Cut(key[len(preQUserClient):], "/")
		if !q.users[u][c] {
			return nil
		}
		return b.readQuota(key, "users/"+u+"/clients/"+c, func() { delete(q.users[u], c) })
	case strings.HasPrefix(key, preQClient):
		c := key[len(preQClient):]
		if !q.clients[c] {
			return nil
		}
		return b.readQuota(key, "clients/"+c, func() { delete(q.clients, c) })
	}
	return nil
}

// forgetUser drops a user and its clients' quotas.
func (q *quotaCache) forgetUser(u string) {
	q.set("users/"+u, nil)
	for c := range q.users[u] {
		q.set("users/"+u+"/clients/"+c, nil)
	}
	delete(q.users, u)
}

// readQuota reads one entity config and watches it. One found deleted is
// forgotten (forget) with its quotas, and has no watch for its creation
// (watchCreation): the watched listing of its parent has it again once it
// is created.
func (b *backend) readQuota(key, entityPath string, forget func()) error {
	data, _, ok, err := b.get(key, b.p("/config/"+entityPath))
	if err != nil {
		return err
	}
	if !ok {
		forget()
		b.quotas.set(entityPath, nil)
		return nil
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		b.log.Warn().Err(err).Str("entity", entityPath).Msg("ignoring malformed quota config znode")
		cfg = nil
	}
	e, _ := metadata.ParseQuotaPath(entityPath)
	b.quotas.set(entityPath, metadata.QuotasFromConfig(e, cfg))
	return nil
}

func (b *backend) processQuotaUsers() error {
	names, err := b.optionalChildren(keyQUsers, b.p(configUsersPath))
	if err != nil {
		return err
	}
	q := &b.quotas
	reconcile(q.users, names, func(u string) {
		q.users[u] = map[string]bool{}
		b.mark(preQUser + u)
		b.mark(preQUserClients + u)
	}, q.forgetUser)
	if !q.readUsers {
		q.readUsers, q.changed = true, true
	}
	return nil
}

func (b *backend) processQuotaUserClients(u string) error {
	q := &b.quotas
	known, ok := q.users[u]
	if !ok {
		return nil
	}
	key := preQUserClients + u
	zpath := b.p(userPath(u) + "/clients")
	names, err := b.children(key, zpath)
	if errors.Is(err, zk.ErrNoNode) {
		// Its creation changes the user's children: watch those, not the
		// missing znode, whose watch ZooKeeper (and a goroutine here)
		// would keep for ever once the user is deleted. A child watch
		// follows once it exists.
		if !b.isArmed(key) {
			under, _, ch, err := b.conn.ChildrenW(b.p(userPath(u)))
			if errors.Is(err, zk.ErrNoNode) {
				q.forgetUser(u) // deleted: the watched listing has it again once created
				return nil
			}
			if err != nil {
				return err
			}
			b.arm(key, ch)
			if slices.Contains(under, "clients") { // created in between
				b.mark(key)
			}
		}
		names = nil
	} else if err != nil {
		return err
	}
	reconcile(known, names, func(c string) {
		known[c] = true
		b.mark(preQUserClient + u + "/" + c)
	}, func(c string) {
		delete(known, c)
		q.set("users/"+u+"/clients/"+c, nil)
	})
	return nil
}

func (b *backend) processQuotaClients() error {
	q := &b.quotas
	return b.processQuotaRoot(keyQClients, configClientsPath, preQClient, "clients/", q.clients, &q.readClients)
}

func (b *backend) processQuotaIPs() error {
	q := &b.quotas
	return b.processQuotaRoot(keyQIPs, configIPsPath, preQIP, "ips/", q.ips, &q.readIPs)
}

// processQuotaRoot lists a root of single-name entities (/config/clients,
// /config/ips) and reconciles known with it: a new name's config is
// marked for reading, a gone one's quotas dropped.
func (b *backend) processQuotaRoot(key, zpath, pre, entityPrefix string, known map[string]bool, read *bool) error {
	names, err := b.optionalChildren(key, b.p(zpath))
	if err != nil {
		return err
	}
	q := &b.quotas
	reconcile(known, names, func(n string) {
		known[n] = true
		b.mark(pre + n)
	}, func(n string) {
		delete(known, n)
		q.set(entityPrefix+n, nil)
	})
	if !*read {
		*read, q.changed = true, true
	}
	return nil
}

// takeQuotas returns the quotas to deliver if they changed and every tree
// has been read. Called holding mu.
func (b *backend) takeQuotas() (metadata.ClientQuotas, bool) {
	q := &b.quotas
	if !q.changed || !q.readUsers || !q.readClients || !q.readIPs {
		return nil, false
	}
	q.changed = false
	out := metadata.ClientQuotas{}
	for path, v := range q.entities {
		if e, ok := metadata.ParseQuotaPath(path); ok {
			out[e] = maps.Clone(v)
		}
	}
	return out, true
}

// ClientQuotas reads every entity's quotas from ZooKeeper.
func (b *backend) ClientQuotas(ctx context.Context) (metadata.ClientQuotas, error) {
	return withCtx(ctx, func() (metadata.ClientQuotas, error) {
		out := metadata.ClientQuotas{}
		read := func(entityPath string) error {
			data, _, err := b.conn.Get(b.p("/config/" + entityPath))
			if errors.Is(err, zk.ErrNoNode) {
				return nil
			}
			if err != nil {
				return err
			}
			cfg, err := decodeConfig(data)
			if err != nil {
				return nil
			}
			e, _ := metadata.ParseQuotaPath(entityPath)
			if v := metadata.QuotasFromConfig(e, cfg); len(v) > 0 {
				out[e] = v
			}
			return nil
		}
		list := func(zpath string) ([]string, error) {
			c, _, err := b.conn.Children(b.p(zpath))
			if errors.Is(err, zk.ErrNoNode) {
				return nil, nil
			}
			return c, err
		}
		users, err := list(configUsersPath)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if err := read("users/" + u); err != nil {
				return nil, err
			}
			clients, err := list(userPath(u) + "/clients")
			if err != nil {
				return nil, err
			}
			for _, c := range clients {
				if err := read("users/" + u + "/clients/" + c); err != nil {
					return nil, err
				}
			}
		}
		for _, root := range []struct{ zpath, entityPrefix string }{{configClientsPath, "clients/"}, {configIPsPath, "ips/"}} {
			names, err := list(root.zpath)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				if err := read(root.entityPrefix + n); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	})
}

// AlterClientQuota rewrites one entity's config (a compare-and-set on its
// version, retried on a race; parents created as Kafka's createRecursive
// does) and announces the change, as Kafka's AdminZkClient.changeConfigs
// does.
func (b *backend) AlterClientQuota(ctx context.Context, a metadata.QuotaAlteration) error {
	entityPath := a.Entity.Path()
	if entityPath == "" {
		return errors.New("empty quota entity")
	}
	zpath := b.p("/config/" + entityPath)
	_, err := withCtx(ctx, func() (struct{}, error) {
		for range 10 {
			data, stat, err := b.conn.Get(zpath)
			exists := err == nil
			if err != nil && !errors.Is(err, zk.ErrNoNode) {
				return struct{}{}, err
			}
			cfg, err := decodeConfig(data)
			if err != nil {
				return struct{}{}, err
			}
			next := metadata.AlterQuotaConfig(cfg, a)
			if !exists && len(next) == 0 {
				return struct{}{}, nil // nothing to write or remove
			}
			if !exists {
				stat = nil
				if err := b.ensureParents(zpath); err != nil {
					return struct{}{}, err
				}
			}
			deleted, err := b.writeEntityConfig(zpath, next, stat)
			if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return struct{}{}, err
			}
			if deleted && a.Entity.User != "" && a.Entity.ClientID != "" {
				b.pruneUserClients(userPath(a.Entity.User))
			}
			b.announceConfigChange(entityPath)
			return struct{}{}, nil
		}
		return struct{}{}, errors.New("quota config changed concurrently too often")
	})
	return err
}

// writeEntityConfig writes an entity's config znode (stat nil: create
// it), or deletes it when no config is left (a quota entity without
// quotas, a user without credentials): Kafka 4 forgets such an entity
// (ClientQuotaControlManager drops an entity whose last quota is removed,
// a user's last credential removed leaves no SCRAM user), and every
// broker watches each entity's znode, so one kept empty would hold a
// watch per broker for ever. A znode with children (a user's clients)
// is kept, empty. It reports whether it deleted the znode.
func (b *backend) writeEntityConfig(zpath string, next map[string]string, stat *zk.Stat) (deleted bool, err error) {
	if stat == nil {
		_, err = b.conn.Create(zpath, encodeConfig(next), 0, b.acl)
		return false, err
	}
	if len(next) == 0 {
		err = b.conn.Delete(zpath, stat.Version)
		if !errors.Is(err, zk.ErrNotEmpty) {
			return err == nil, err
		}
	}
	_, err = b.conn.Set(zpath, encodeConfig(next), stat.Version)
	return false, err
}

// pruneUserClients deletes a user's clients znode once it has no
// children, and then the user's znode if its config is empty (the user's
// last client quota went after its own config emptied). Each step leaves
// alone what was changed meanwhile.
func (b *backend) pruneUserClients(user string) {
	if err := b.conn.Delete(b.p(user+"/clients"), -1); err != nil {
		return
	}
	zpath := b.p(user)
	data, stat, err := b.conn.Get(zpath)
	if err != nil {
		return
	}
	if cfg, err := decodeConfig(data); err == nil && len(cfg) == 0 {
		if err := b.conn.Delete(zpath, stat.Version); err == nil {
			b.announceConfigChange(strings.TrimPrefix(user, "/config/"))
		}
	}
}

// ensureParents creates the missing parents of zpath, without data.
func (b *backend) ensureParents(zpath string) error {
	parts := strings.Split(strings.TrimPrefix(zpath, "/"), "/")
	for i := 1; i < len(parts); i++ {
		p := "/" + strings.Join(parts[:i], "/")
		if _, err := b.conn.Create(p, nil, 0, b.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	return nil
}
