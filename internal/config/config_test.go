package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(args, func(k string) string { return env[k] }, fs)
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPPort != 8001 || c.RTPPorts != (PortRange{4001, 4010}) || c.WebRTCPort != 8000 ||
		c.IdleTimeout != 30*time.Second || c.FileRoot != "./recordings" || !c.TranscodeOnStop {
		t.Fatalf("defaults %+v", c)
	}
}

func TestEnvironmentThenFlags(t *testing.T) {
	env := map[string]string{
		"AGORA_FILE_ROOT": "/data/rec", "PORT": "9001", "ARS_RTP_PORTS": "5000-5003",
		"ARS_IDLE_TIMEOUT": "45s", "ARS_APP_ID": strings.Repeat("a", 32), "ARS_APP_CERTIFICATE": strings.Repeat("b", 32),
	}
	c, err := load(t, env, "--port", "9002", "--idle-timeout", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if c.FileRoot != "/data/rec" || c.HTTPPort != 9002 || c.RTPPorts != (PortRange{5000, 5003}) || c.IdleTimeout != time.Minute {
		t.Fatalf("config %+v", c)
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	cert := strings.Repeat("b", 32)
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"PORT": "eighty"}, nil, "PORT"},
		{map[string]string{"ARS_RTP_PORTS": "4010-4001"}, nil, "ARS_RTP_PORTS"},
		{map[string]string{"ARS_IDLE_TIMEOUT": "30"}, nil, "ARS_IDLE_TIMEOUT"},
		{map[string]string{"ARS_APP_ID": strings.Repeat("a", 32)}, nil, "ARS_APP_ID"},
		{map[string]string{"ARS_APP_ID": "short", "ARS_APP_CERTIFICATE": cert}, nil, "ARS_APP_ID"},
		{map[string]string{"ARS_LOG_LEVEL": "loud"}, nil, "ARS_LOG_LEVEL"},
		{map[string]string{"ARS_WEBRTC_PORT": "4005"}, nil, "ARS_WEBRTC_PORT"},
		{map[string]string{"ARS_BIND": "not-an-ip"}, nil, "ARS_BIND"},
		{map[string]string{"ARS_PPROF_ADDR": "0.0.0.0:6060"}, nil, "ARS_PPROF_ADDR"},
		{nil, []string{"--pprof-addr", ":6060"}, "ARS_PPROF_ADDR"},
		{nil, []string{"--port", "70000"}, "PORT"},
		{nil, []string{"stray"}, "unexpected argument"},
	}
	for _, tc := range cases {
		_, err := load(t, tc.env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v args %v: error %v, want mention of %s", tc.env, tc.args, err, tc.want)
		}
	}
}

func TestCertificateIsNotAFlag(t *testing.T) {
	if _, err := load(t, nil, "--app-cert", strings.Repeat("b", 32)); err == nil {
		t.Fatal("the certificate was accepted on the command line")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "cert")
	if err := os.WriteFile(file, []byte(strings.Repeat("c", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, map[string]string{"ARS_APP_ID": strings.Repeat("a", 32)}, "--app-cert-file", file)
	if err != nil || c.AppCertificate != strings.Repeat("c", 32) {
		t.Fatalf("cert file: %v", err)
	}
}

func TestDevCredentialsPersistWithMode0600(t *testing.T) {
	root := t.TempDir()
	c := Default()
	c.FileRoot = root
	path, created, err := c.EnsureDevCredentials()
	if err != nil || !created || !c.Dev || !isHex32(c.AppID) || !isHex32(c.AppCertificate) {
		t.Fatalf("first run: %v %v %+v", created, err, c)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	again := Default()
	again.FileRoot = root
	if _, created, err := again.EnsureDevCredentials(); err != nil || created || again.AppID != c.AppID || again.AppCertificate != c.AppCertificate {
		t.Fatalf("second run did not reuse the pair: %v %v", created, err)
	}
}

func TestOutboundAndCloudCaps(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.OutboundAllow != "" || c.CloudMaxResources != 1000 || c.CloudMaxSessions != 200 || c.CloudMaxPerChannel != 8 || c.CloudMaxMixes != 16 ||
		c.CloudMixMP4MaxDuration != 3*time.Hour || c.CloudMixMP4MaxMB != 2048 {
		t.Fatalf("defaults: allow %q resources %d sessions %d per channel %d", c.OutboundAllow, c.CloudMaxResources, c.CloudMaxSessions, c.CloudMaxPerChannel)
	}
	c, err = load(t, map[string]string{"ARS_OUTBOUND_ALLOW": "127.0.0.1/32,minio.internal", "ARS_CLOUD_MAX_RESOURCES": "5"},
		"--cloud-max-sessions", "3", "--cloud-max-recorders-per-channel", "2", "--cloud-max-mixes", "4")
	if err != nil {
		t.Fatal(err)
	}
	if c.OutboundAllow != "127.0.0.1/32,minio.internal" || c.CloudMaxResources != 5 || c.CloudMaxSessions != 3 || c.CloudMaxPerChannel != 2 || c.CloudMaxMixes != 4 {
		t.Fatalf("set: %+v", c)
	}
	for env, want := range map[string]string{
		"ARS_OUTBOUND_ALLOW=10.0.0.0/33":           "ARS_OUTBOUND_ALLOW",
		"ARS_OUTBOUND_ALLOW=bad_name":              "ARS_OUTBOUND_ALLOW",
		"ARS_CLOUD_MAX_RESOURCES=0":                "ARS_CLOUD_MAX_RESOURCES",
		"ARS_CLOUD_MAX_SESSIONS=-1":                "ARS_CLOUD_MAX_SESSIONS",
		"ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL=0":    "ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL",
		"ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL=5000": "ARS_CLOUD_MAX_RECORDERS_PER_CHANNEL",
		"ARS_CLOUD_MAX_MIXES=0":                    "ARS_CLOUD_MAX_MIXES",
		"ARS_CLOUD_MIX_MP4_MAX_DURATION=1s":        "ARS_CLOUD_MIX_MP4_MAX_DURATION",
		"ARS_CLOUD_MIX_MP4_MAX_MB=0":               "ARS_CLOUD_MIX_MP4_MAX_MB",
	} {
		k, v, _ := strings.Cut(env, "=")
		if _, err := load(t, map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want mention of %s", env, err, want)
		}
	}
}

func TestWebRTCHostsAndPendingLimits(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.WebRTCHosts) != 0 || c.WHIPMaxPending != 64 || c.WHIPMaxPerAddr != 8 || c.WHIPICETimeout != 10*time.Second {
		t.Fatalf("defaults: hosts %q, pending %d/%d, ice timeout %v", c.WebRTCHosts, c.WHIPMaxPending, c.WHIPMaxPerAddr, c.WHIPICETimeout)
	}
	env := map[string]string{"ARS_WEBRTC_HOSTS": " 127.0.0.1, media.example.org ,2001:db8::7,", "ARS_WEBRTC_MAX_PENDING": "10"}
	c, err = load(t, env, "--webrtc-max-pending-per-addr", "2", "--webrtc-ice-timeout", "3s")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.WebRTCHosts, "|") != "127.0.0.1|media.example.org|2001:db8::7" || c.WHIPMaxPending != 10 || c.WHIPMaxPerAddr != 2 || c.WHIPICETimeout != 3*time.Second {
		t.Fatalf("set: hosts %q, pending %d/%d, ice timeout %v", c.WebRTCHosts, c.WHIPMaxPending, c.WHIPMaxPerAddr, c.WHIPICETimeout)
	}
	c, err = load(t, nil, "--webrtc-hosts", "10.0.0.1")
	if err != nil || len(c.WebRTCHosts) != 1 || c.WebRTCHosts[0] != "10.0.0.1" {
		t.Fatalf("flag: %q %v", c.WebRTCHosts, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ARS_WEBRTC_HOSTS": "bad_name"}, "ARS_WEBRTC_HOSTS"},
		{map[string]string{"ARS_WEBRTC_HOSTS": "http://x"}, "ARS_WEBRTC_HOSTS"},
		{map[string]string{"ARS_WEBRTC_HOSTS": "-x.example"}, "ARS_WEBRTC_HOSTS"},
		{map[string]string{"ARS_WEBRTC_MAX_PENDING": "0"}, "ARS_WEBRTC_MAX_PENDING"},
		{map[string]string{"ARS_WEBRTC_MAX_PENDING_PER_ADDR": "65"}, "ARS_WEBRTC_MAX_PENDING_PER_ADDR"},
		{map[string]string{"ARS_WEBRTC_MAX_PENDING_PER_ADDR": "0"}, "ARS_WEBRTC_MAX_PENDING_PER_ADDR"},
		{map[string]string{"ARS_WEBRTC_ICE_TIMEOUT": "500ms"}, "ARS_WEBRTC_ICE_TIMEOUT"},
		{map[string]string{"ARS_WEBRTC_ICE_TIMEOUT": "ten"}, "ARS_WEBRTC_ICE_TIMEOUT"},
	} {
		if _, err := load(t, tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: error %v, want mention of %s", tc.env, err, tc.want)
		}
	}
}

func TestHTTPBudgetSettings(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPMaxConns != 2048 || c.HTTPMaxConnsPerIP != 64 || c.HTTPIdleTimeout != 15*time.Second || c.FDReserve != 1024 || c.AdminToken != "" {
		t.Fatalf("defaults %+v", c)
	}
	c, err = load(t, map[string]string{"ARS_HTTP_MAX_CONNS": "500", "ARS_FD_RESERVE": "200", "ARS_ADMIN_TOKEN": "0123456789abcdef"},
		"--http-max-conns-per-ip", "8", "--http-idle-timeout", "5s")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPMaxConns != 500 || c.HTTPMaxConnsPerIP != 8 || c.HTTPIdleTimeout != 5*time.Second || c.FDReserve != 200 || c.AdminToken != "0123456789abcdef" {
		t.Fatalf("config %+v", c)
	}
	for env, want := range map[string]map[string]string{
		"ARS_HTTP_MAX_CONNS":        {"ARS_HTTP_MAX_CONNS": "0"},
		"ARS_HTTP_MAX_CONNS_PER_IP": {"ARS_HTTP_MAX_CONNS": "100", "ARS_HTTP_MAX_CONNS_PER_IP": "101"},
		"ARS_HTTP_IDLE_TIMEOUT":     {"ARS_HTTP_IDLE_TIMEOUT": "5m"},
		"ARS_FD_RESERVE":            {"ARS_FD_RESERVE": "-1"},
		"ARS_ADMIN_TOKEN":           {"ARS_ADMIN_TOKEN": "short"},
	} {
		if _, err := load(t, want); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%v: error %v, want mention of %s", want, err, env)
		}
	}
	if _, err := load(t, nil, "--admin-token", "0123456789abcdef"); err == nil {
		t.Error("the admin token was accepted on the command line")
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("fedcba9876543210fedcba\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := load(t, nil, "--admin-token-file", file); err != nil || c.AdminToken != "fedcba9876543210fedcba" {
		t.Fatalf("token file: %q %v", c.AdminToken, err)
	}
}

func TestRTPLimits(t *testing.T) {
	c := Default()
	if c.MaxJoinsPerIP != 500 || c.MaxParticipants != 10000 || c.MaxChannelParticipants != 256 || c.MaxChannels != 10000 || c.RTPRebindAfter != time.Second || c.CaptureQueueBytes != 256<<10 {
		t.Fatalf("defaults %d %d %d %d %v", c.MaxJoinsPerIP, c.MaxParticipants, c.MaxChannelParticipants, c.MaxChannels, c.RTPRebindAfter)
	}
	got, err := load(t, map[string]string{"ARS_MAX_JOINS_PER_IP": "0", "ARS_MAX_CHANNELS": "7", "ARS_RTP_REBIND_AFTER": "0s"},
		"--max-participants", "9", "--max-channel-participants", "3")
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxJoinsPerIP != 0 || got.MaxChannels != 7 || got.MaxParticipants != 9 || got.MaxChannelParticipants != 3 || got.RTPRebindAfter != 0 {
		t.Fatalf("loaded %+v", got)
	}
	for env, v := range map[string]string{
		"ARS_MAX_JOINS_PER_IP": "-1", "ARS_MAX_PARTICIPANTS": "0", "ARS_MAX_CHANNEL_PARTICIPANTS": "0",
		"ARS_MAX_CHANNELS": "0", "ARS_RTP_REBIND_AFTER": "2m", "ARS_CAPTURE_QUEUE_BYTES": "1000",
	} {
		if _, err := load(t, map[string]string{env: v}); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%s: error %v", env, v, err)
		}
	}
}

// TestClusterSettings: off by default; the Redis URL is environment only
// (a password in it must not be in the process list) and a bad one is
// refused without echoing its password.
func TestClusterSettings(t *testing.T) {
	c, err := load(t, nil)
	if err != nil || c.ClusterRedis != "" || c.ClusterName != "ars" || c.NodeID != "" || c.NodeAddress != "" {
		t.Fatalf("defaults %q %q %q %q %v", c.ClusterRedis, c.ClusterName, c.NodeID, c.NodeAddress, err)
	}
	c, err = load(t, map[string]string{"ARS_CLUSTER_REDIS": "rediss://u:pw@redis.example:6380/2"},
		"--cluster-name", "fleet-1", "--node-id", "rec-a.eu", "--node-address", "rec-a.example.com")
	if err != nil || c.ClusterRedis != "rediss://u:pw@redis.example:6380/2" || c.ClusterName != "fleet-1" || c.NodeID != "rec-a.eu" || c.NodeAddress != "rec-a.example.com" {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := load(t, nil, "--cluster-redis", "redis://h:6379/0"); err == nil {
		t.Fatal("the Redis URL was accepted on the command line")
	}
	const pw = "hunter2-secret"
	for env, want := range map[string]string{
		"redis://u:" + pw + "@h:port/0": "ARS_CLUSTER_REDIS", "http://u:" + pw + "@h/0": "ARS_CLUSTER_REDIS",
		"redis://u:" + pw + "@h:1/db": "ARS_CLUSTER_REDIS",
	} {
		_, err := load(t, map[string]string{"ARS_CLUSTER_REDIS": env})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), pw) {
			t.Errorf("ARS_CLUSTER_REDIS=%s: %v", env, err)
		}
	}
	for _, kv := range [][2]string{{"ARS_CLUSTER_NAME", "a:b"}, {"ARS_NODE_ID", "node 1"}, {"ARS_NODE_ADDRESS", "bad_host!"}, {"ARS_CLUSTER_NAME", strings.Repeat("x", 65)}} {
		if _, err := load(t, map[string]string{kv[0]: kv[1]}); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%q: %v", kv[0], kv[1], err)
		}
	}
}
