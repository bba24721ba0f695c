package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/redistest"
)

// TestClusterStage: with ARS_CLUSTER_REDIS the "cluster" stage starts
// after the cloud recorder (what runs is known) and before the API
// listens, and closes in reverse; while it runs the node is registered
// and GET /v1/cluster/nodes lists it; at a clean stop its record is gone.
func TestClusterStage(t *testing.T) {
	srv := redistest.Start(t)
	const token = "0123456789abcdef0123"
	d := New(testConfig(t, "ARS_CLUSTER_REDIS="+srv.URL(), "ARS_NODE_ID=node-a", "ARS_NODE_ADDRESS=192.0.2.10", "ARS_ADMIN_TOKEN="+token), io.Discard, io.Discard)
	i := slices.Index(wantOrder, "cloud recording") + 1
	want := slices.Insert(slices.Clone(wantOrder), i, "cluster")
	if got := d.life.names(); !slices.Equal(got, want) {
		t.Fatalf("stages %v\nwant       %v", got, want)
	}
	var mu sync.Mutex
	var closes []string
	d.life.trace = func(ev, name string) {
		if ev == "close" {
			mu.Lock()
			closes = append(closes, name)
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	var body struct {
		Nodes []struct {
			ID      string `json:"id"`
			Address string `json:"address"`
			APIPort int    `json:"apiPort"`
		} `json:"nodes"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a := d.addr(); a != "" {
			req, _ := http.NewRequest("GET", "http://"+a+"/v1/cluster/nodes", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == 200 && len(body.Nodes) == 1 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the node never listed itself")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := body.Nodes[0]; n.ID != "node-a" || n.Address != "192.0.2.10" || n.APIPort != d.cfg.HTTPPort {
		t.Fatalf("node %+v", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if i := slices.Index(closes, "cluster"); i < 0 || closes[i-1] != "rtp readers" || closes[i+1] != "cloud recording" {
		t.Fatalf("closed %v", closes)
	}
	if n, err := d.cluster.Nodes(context.Background()); err == nil {
		t.Fatalf("after the stop: %v (the client is closed, want an error)", n)
	}
}

// TestSingleNodeListsItself: without ARS_CLUSTER_REDIS there is no
// cluster stage, and GET /v1/cluster/nodes answers this node alone.
func TestSingleNodeListsItself(t *testing.T) {
	d := New(testConfig(t, "ARS_NODE_ADDRESS=192.0.2.11", "ARS_APP_ID=", "ARS_APP_CERTIFICATE="), io.Discard, io.Discard)
	if slices.Contains(d.life.names(), "cluster") {
		t.Fatal("a cluster stage without ARS_CLUSTER_REDIS")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for d.addr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("not listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Development mode (no app ID): the operator token is not asked.
	resp, err := http.Get("http://" + d.addr() + "/v1/cluster/nodes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Nodes []struct {
			Address string `json:"address"`
			Load    struct {
				Cores int `json:"cores"`
			} `json:"load"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || len(body.Nodes) != 1 ||
		body.Nodes[0].Address != "192.0.2.11" || body.Nodes[0].Load.Cores < 1 {
		t.Fatalf("%d %+v %v", resp.StatusCode, body, err)
	}
}
