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

// The plain-RTP limits of issue 12: defaults, settings and their checks.
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
