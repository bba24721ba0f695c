package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// once sends one cloud API request without the official client's retries
// (a 429 would be retried for 6 s otherwise) and decodes the answer.
func (c *agoraClient) once(method, path string, body any) (int, cloudAnswer) {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("Content-Type", "application/json;charset=utf-8")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a cloudAnswer
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a); err != nil {
			c.t.Fatalf("%s %s: answer %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, a
}

func (c *agoraClient) acquireOnce(cname, uid string) (int, cloudAnswer) {
	return c.once("POST", "/acquire", &acquireReqBody{Cname: cname, Uid: uid, ClientRequest: &acquireClientRequest{}})
}

func (c *agoraClient) startOnce(rid string, body *startReqBody) (int, cloudAnswer) {
	return c.once("POST", "/resourceid/"+rid+"/mode/individual/start", body)
}

// TestCloudCaps: acquired-but-unstarted resources, running recordings and
// recorders per channel are capped; over a cap the API answers HTTP 429
// with Agora's rate-limit code 429 and names the setting; a start, an
// expiry (the TTL sweep) or a stop gives the capacity back. (Old code:
// every acquire and start succeeded, and expired resources were kept for
// an hour.)
func TestCloudCaps(t *testing.T) {
	d := cloudDaemon(t, nil, "ARS_CLOUD_MAX_RESOURCES=3", "ARS_CLOUD_RESOURCE_TTL=3s",
		"ARS_CLOUD_MAX_SESSIONS=2", "ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL=1")
	c := newAgoraClient(t, d, appID)
	const u1, u2 = "527841", "527842"
	// Keys are minted up front (each is an `ars key` run): the starts
	// below must come within the resources' 3 s TTL.
	tokens := map[string]string{}
	for _, cname := range []string{"capa", "capb", "capc"} {
		tokens[cname+u1] = d.key("media", cname, 527841)
	}
	tokens["capa"+u2] = d.key("media", "capa", 527842)
	start := func(rid, cname, uid string) (int, cloudAnswer) {
		b := individualStart(tokens[cname+uid], cname, nil, "localbucket", false)
		b.Uid = uid
		return c.startOnce(rid, b)
	}
	acquire := func(cname, uid string) string {
		t.Helper()
		st, a := c.acquireOnce(cname, uid)
		if st != http.StatusOK || a.ResourceId == "" {
			t.Fatalf("acquire %s/%s: %d %+v", cname, uid, st, a)
		}
		return a.ResourceId
	}
	refused := func(what string, st int, a cloudAnswer, setting string) {
		t.Helper()
		if st != http.StatusTooManyRequests || a.Code != 429 || !strings.Contains(a.Reason, setting) {
			t.Errorf("%s: %d %+v, want 429 code 429 naming %s", what, st, a, setting)
		}
	}

	r1 := acquire("capa", u1)
	acquire("capa", u1)
	acquire("capa", u1)
	if got := d.metric("ars_cloud_resources_held"); got != 3 {
		t.Errorf("ars_cloud_resources_held = %v, want 3", got)
	}
	st, a := c.acquireOnce("capa", u1)
	refused("4th acquire", st, a, "ARS_CLOUD_MAX_RESOURCES")

	// A start uses a resource: its slot is free again.
	st, s1 := start(r1, "capa", u1)
	if st != http.StatusOK {
		t.Fatalf("start capa: %d %+v", st, s1)
	}
	r5 := acquire("capa", u2)
	st, a = start(r5, "capa", u2)
	refused("2nd recorder in capa", st, a, "ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL")
	st, a = c.acquireOnce("capb", u1)
	refused("acquire with 3 held", st, a, "ARS_CLOUD_MAX_RESOURCES")

	// Past the TTL the unused resources no longer hold capacity.
	time.Sleep(3500 * time.Millisecond)
	r7 := acquire("capb", u1)
	r8 := acquire("capc", u1)
	if st, a := start(r7, "capb", u1); st != http.StatusOK {
		t.Fatalf("start capb: %d %+v", st, a)
	}
	st, a = start(r8, "capc", u1)
	refused("3rd recording", st, a, "ARS_CLOUD_MAX_SESSIONS")
	if got := d.metric("ars_cloud_recordings_running"); got != 2 {
		t.Errorf("ars_cloud_recordings_running = %v, want 2", got)
	}

	// A stop gives a recording slot back.
	if st, a := c.stop(r1, s1.Sid, "capa", u1); st != http.StatusOK && st != http.StatusPartialContent {
		t.Fatalf("stop capa: %d %+v", st, a)
	}
	r9 := acquire("capc", u1)
	if st, a := start(r9, "capc", u1); st != http.StatusOK {
		t.Fatalf("start capc after a stop: %d %+v", st, a)
	}
	for limit, want := range map[string]float64{"resources": 2, "channel": 1, "sessions": 1} {
		if got := d.metric(`ars_cloud_limit_refused_total{limit="` + limit + `"}`); got != want {
			t.Errorf("ars_cloud_limit_refused_total{limit=%q} = %v, want %v", limit, got, want)
		}
	}
}
