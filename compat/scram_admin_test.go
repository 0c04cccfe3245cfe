package compat

// AlterUserScramCredentials and DescribeUserScramCredentials as Kafka 4's
// ScramControlManager and ScramImage answer them.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// scramAlter sends one AlterUserScramCredentials request and returns each
// user's result.
func (e *adminEnv) scramAlter(dels []kmsg.AlterUserSCRAMCredentialsRequestDeletion, ups []kmsg.AlterUserSCRAMCredentialsRequestUpsertion) map[string]kmsg.AlterUserSCRAMCredentialsResponseResult {
	e.t.Helper()
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Deletions, req.Upsertions = dels, ups
	resp, err := req.RequestWith(e.ctx, e.cl)
	if err != nil {
		e.t.Fatalf("AlterUserScramCredentials: %v", err)
	}
	out := map[string]kmsg.AlterUserSCRAMCredentialsResponseResult{}
	for _, r := range resp.Results {
		if _, dup := out[r.User]; dup {
			e.t.Fatalf("AlterUserScramCredentials answered %s twice: %+v", r.User, resp.Results)
		}
		out[r.User] = r
	}
	return out
}

func scramUpsert(user string, mech int8, iterations int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
	u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	u.Name, u.Mechanism, u.Iterations = user, mech, iterations
	u.Salt, u.SaltedPassword = []byte("salt"), []byte("saltedPassword")
	return u
}

func scramDelete(user string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
	return kmsg.AlterUserSCRAMCredentialsRequestDeletion{Name: user, Mechanism: mech}
}

// scramMechanisms describes user and returns its mechanisms' iterations,
// or the result's error code.
func (e *adminEnv) scramMechanisms(user string) (map[int8]int32, int16) {
	e.t.Helper()
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	req.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: user}}
	resp, err := req.RequestWith(e.ctx, e.cl)
	if err != nil || resp.ErrorCode != 0 || len(resp.Results) != 1 {
		e.t.Fatalf("DescribeUserScramCredentials %s: %+v %v", user, resp, err)
	}
	r := resp.Results[0]
	out := map[int8]int32{}
	for _, ci := range r.CredentialInfos {
		out[ci.Mechanism] = ci.Iterations
	}
	return out, r.ErrorCode
}

// TestScramAlterationsOneUserOncePerRequest: Kafka 4's
// ScramControlManager.alterCredentials takes one alteration per user in a
// request: a user named again, whatever the mechanism, is
// DUPLICATE_RESOURCE and none of its alterations is applied; a user's
// first refusal stands (a deletion of a credential it lacks is
// RESOURCE_NOT_FOUND even when the user is named again). Gregor, as Kafka
// 3's ZooKeeper mode, refused only the same mechanism twice.
func TestScramAlterationsOneUserOncePerRequest(t *testing.T) {
	e := newAdminEnv(t)
	const sha256, sha512 = 1, 2
	u1, u2, u3 := randomName("scram1"), randomName("scram2"), randomName("scram3")
	dup := "A user credential cannot be altered twice in the same request"

	res := e.scramAlter(nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{scramUpsert(u1, sha256, 4096), scramUpsert(u1, sha512, 8192), scramUpsert(u3, sha512, 8192)})
	if r := res[u1]; len(res) != 2 || r.ErrorCode != kerr.DuplicateResource.Code || deref(r.ErrorMessage) != dup {
		t.Fatalf("upserting both mechanisms of %s in one request: %+v, want DUPLICATE_RESOURCE %q", u1, res, dup)
	}
	wantCode(t, "upserting "+u3+" alongside", res[u3].ErrorCode, nil)
	if _, code := e.scramMechanisms(u1); code != kerr.ResourceNotFound.Code {
		t.Fatalf("%s after a refused alteration: %v, want RESOURCE_NOT_FOUND (nothing applied)", u1, kerr.ErrorForCode(code))
	}

	// Both mechanisms, from two requests.
	wantCode(t, "upserting SCRAM-SHA-256", e.scramAlter(nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{scramUpsert(u1, sha256, 4096)})[u1].ErrorCode, nil)
	wantCode(t, "upserting SCRAM-SHA-512", e.scramAlter(nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{scramUpsert(u1, sha512, 8192)})[u1].ErrorCode, nil)
	var mechs map[int8]int32
	waitFor(t, u1+" described with both mechanisms", 10*time.Second, func() bool {
		mechs, _ = e.scramMechanisms(u1)
		return len(mechs) == 2
	})
	if mechs[sha256] != 4096 || mechs[sha512] != 8192 {
		t.Fatalf("%s described as %v, want SCRAM-SHA-256 4096 and SCRAM-SHA-512 8192", u1, mechs)
	}

	// Deleting both in one request, or deleting and upserting.
	res = e.scramAlter([]kmsg.AlterUserSCRAMCredentialsRequestDeletion{scramDelete(u1, sha256), scramDelete(u1, sha512)}, nil)
	wantCode(t, "deleting both mechanisms in one request", res[u1].ErrorCode, kerr.DuplicateResource)
	res = e.scramAlter([]kmsg.AlterUserSCRAMCredentialsRequestDeletion{scramDelete(u1, sha256)}, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{scramUpsert(u1, sha512, 4096)})
	wantCode(t, "deleting one mechanism and upserting the other in one request", res[u1].ErrorCode, kerr.DuplicateResource)
	if mechs, _ = e.scramMechanisms(u1); len(mechs) != 2 || mechs[sha512] != 8192 {
		t.Fatalf("%s after refused alterations described as %v, want both mechanisms unchanged", u1, mechs)
	}

	// The first refusal stands.
	res = e.scramAlter([]kmsg.AlterUserSCRAMCredentialsRequestDeletion{scramDelete(u2, sha256)}, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{scramUpsert(u2, sha512, 4096)})
	if r := res[u2]; r.ErrorCode != kerr.ResourceNotFound.Code || deref(r.ErrorMessage) != "Attempt to delete a user credential that does not exist" {
		t.Fatalf("deleting a missing credential of %s, then upserting: %+v, want RESOURCE_NOT_FOUND", u2, r)
	}
	res = e.scramAlter(nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{scramUpsert(u2, sha256, 4095), scramUpsert(u2, sha512, 4096)})
	if r := res[u2]; r.ErrorCode != kerr.UnacceptableCredential.Code || deref(r.ErrorMessage) != "Too few iterations" {
		t.Fatalf("too few iterations for %s, then another upsertion: %+v, want UNACCEPTABLE_CREDENTIAL \"Too few iterations\"", u2, r)
	}
	if _, code := e.scramMechanisms(u2); code != kerr.ResourceNotFound.Code {
		t.Fatalf("%s after refused alterations: %v, want RESOURCE_NOT_FOUND", u2, kerr.ErrorForCode(code))
	}
}

// TestScramDescribeEmptyUserName: Kafka 4's ScramImage.describe treats an
// empty name as any user without credentials: RESOURCE_NOT_FOUND, "Attempt
// to describe a user credential that does not exist: " (Gregor answered
// ZooKeeper-mode Kafka's "Username must not be empty").
func TestScramDescribeEmptyUserName(t *testing.T) {
	e := newAdminEnv(t)
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	req.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: ""}}
	resp, err := req.RequestWith(e.ctx, e.cl)
	if err != nil || resp.ErrorCode != 0 || len(resp.Results) != 1 {
		t.Fatalf("DescribeUserScramCredentials of an empty name: %+v %v", resp, err)
	}
	r := resp.Results[0]
	const want = "Attempt to describe a user credential that does not exist: "
	if r.ErrorCode != kerr.ResourceNotFound.Code || deref(r.ErrorMessage) != want {
		t.Fatalf("DescribeUserScramCredentials of an empty name: %v %q, want RESOURCE_NOT_FOUND %q", kerr.ErrorForCode(r.ErrorCode), deref(r.ErrorMessage), want)
	}
}
