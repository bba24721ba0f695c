package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/redistest"
)

const clusterToken = "e2e-operator-token-0123456789"

type clusterNode struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	APIPort int    `json:"apiPort"`
	Load    struct {
		Cores    int  `json:"cores"`
		Channels int  `json:"channels"`
		Full     bool `json:"full"`
	} `json:"load"`
}

// nodes asks GET /v1/cluster/nodes with the operator token; the IDs,
// sorted, or "" with the status when it did not answer 200.
func (d *daemon) clusterNodes() (string, []clusterNode) {
	d.t.Helper()
	req, _ := http.NewRequest("GET", d.base+"/v1/cluster/nodes", nil)
	req.Header.Set("Authorization", "Bearer "+clusterToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "error: " + err.Error(), nil
	}
	defer resp.Body.Close()
	var body struct {
		Nodes []clusterNode `json:"nodes"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return fmt.Sprint("status ", resp.StatusCode), nil
	}
	var ids []string
	for _, n := range body.Nodes {
		ids = append(ids, n.ID)
	}
	sort.Strings(ids)
	return strings.Join(ids, ","), body.Nodes
}

// TestClusterNodes: redis-server and three `ars serve` nodes on loopback,
// each with its own ports and root: every node lists all three with its
// address; a join answers the node's address as rtpHost; after kill -9 of
// one node, within 15 s every remaining node lists two.
func TestClusterNodes(t *testing.T) {
	srv := redistest.Start(t)
	var nodes []*daemon
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startDaemon(t, "ARS_CLUSTER_REDIS="+srv.URL(), "ARS_CLUSTER_NAME=e2e",
			fmt.Sprintf("ARS_NODE_ID=node%d", i), fmt.Sprintf("ARS_NODE_ADDRESS=127.0.0.%d", i), "ARS_ADMIN_TOKEN="+clusterToken))
	}
	for _, d := range nodes {
		waitFor(t, "three nodes listed on "+d.base, 10*time.Second, func() bool { ids, _ := d.clusterNodes(); return ids == "node1,node2,node3" })
	}
	_, listed := nodes[0].clusterNodes()
	for i, n := range listed {
		if n.Address != fmt.Sprintf("127.0.0.%d", i+1) || n.APIPort == 0 || n.Load.Cores < 1 {
			t.Fatalf("node record %+v", n)
		}
	}
	// rtpHost: the answering node's ARS_NODE_ADDRESS.
	var join struct {
		RTPHost string `json:"rtpHost"`
		RTPPort int    `json:"rtpPort"`
	}
	code := nodes[1].call("POST", "/v1/rtp/join", map[string]any{
		"channel": "c1", "uid": 7, "key": nodes[1].key("media", "c1", 7),
		"streams": []map[string]any{{"ssrc": 77, "payloadType": 111, "codec": "opus", "clockRate": 48000, "channels": 2}},
	}, &join)
	if code != http.StatusCreated || join.RTPHost != "127.0.0.2" || join.RTPPort == 0 {
		t.Fatalf("join: %d %+v", code, join)
	}
	// The node's channel shows in its load at the next heartbeat.
	waitFor(t, "node2's channel in its load", 5*time.Second, func() bool {
		_, ns := nodes[0].clusterNodes()
		return len(ns) == 3 && ns[1].Load.Channels == 1
	})

	if err := nodes[2].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-nodes[2].exited
	nodes[2].exited <- nil
	start := time.Now()
	for _, d := range nodes[:2] {
		waitFor(t, "two nodes listed on "+d.base, 15*time.Second-time.Since(start), func() bool { ids, _ := d.clusterNodes(); return ids == "node1,node2" })
	}
	t.Logf("node3 gone from the listings %v after kill -9", time.Since(start).Round(100*time.Millisecond))
}
