package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
)

// Upstream AgoraIO/Tools test vectors (DynamicKey4/5 Go tests).
const (
	kAppID   = "970ca35de60c44645bbae8a215061b33"
	kCert    = "5cfd2fd1755d40ecb72977518be15d3b"
	kChannel = "7d72365eb983485397e3e3f9d460bdda"
)

var kFlags = []string{"--app-id", kAppID, "--app-cert", kCert, "--channel", kChannel,
	"--uid", "2882341273", "--ts", "1446455472", "--salt", "58964981", "--expire-at", "1446455471"}

func clock(unix int64) func() time.Time { return func() time.Time { return time.Unix(unix, 0) } }

func runKeyOut(t *testing.T, now func() time.Time, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runKey(args, &out, &errb, now)
	return out.String(), errb.String(), err
}

func TestKeyGenerateUpstreamVectors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"004 recording (default format)", append([]string{"recording"}, kFlags...),
			"004e0c24ac56aae05229a6d9389860a1a0e25e56da8970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471"},
		{"004 media", append([]string{"media", "--format", "004"}, kFlags...),
			"004d0ec5ee3179c964fe7c0485c045541de6bff332b970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471"},
		{"005 recording", append([]string{"recording", "--format", "005"}, kFlags...),
			"005AgAoADkyOUM5RTQ2MTg3QTAyMkJBQUIyNkI3QkYwMTg0MzhDNjc1Q0ZFMUEQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA=="},
		{"005 media, hex salt", append([]string{"media", "--format=005"}, append(kFlags, "--salt", "0x383bbf5")...),
			"005AQAoAEJERTJDRDdFNkZDNkU0ODYxNkYxQTYwOUVFNTM1M0U5ODNCQjFDNDQQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runKeyOut(t, clock(0), tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want+"\n" {
				t.Fatalf("stdout = %q, want %q", out, tt.want+"\n")
			}
		})
	}
}

func TestKeyCredentialsFromEnv(t *testing.T) {
	t.Setenv("ARS_APP_ID", kAppID)
	t.Setenv("ARS_APP_CERTIFICATE", kCert)
	out, _, err := runKeyOut(t, clock(0), "recording", "--channel", kChannel, "--uid", "2882341273",
		"--ts", "1446455472", "--salt", "58964981", "--expire-at", "1446455471")
	if err != nil {
		t.Fatal(err)
	}
	if want := "004e0c24ac56aae05229a6d9389860a1a0e25e56da8970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471\n"; out != want {
		t.Fatalf("stdout = %q, want %q", out, want)
	}
}

func TestKeyToken(t *testing.T) {
	const issue = 1_700_000_000
	out, _, err := runKeyOut(t, clock(0), "token", "--app-id", kAppID, "--app-cert", kCert, "--channel", "room 1",
		"--uid", "42", "--ts", "1700000000", "--salt", "7", "--ttl", "10m")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSuffix(out, "\n")
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(token, "007") {
		t.Fatalf("stdout = %q", out)
	}
	info, err := rdk.Inspect(token)
	if err != nil {
		t.Fatal(err)
	}
	if info.IssueTs != issue || info.Salt != 7 || info.Expire != 600 || len(info.Services) != 1 {
		t.Fatalf("info %+v", info)
	}
	rtc := info.Services[0]
	if rtc.Channel != "room 1" || rtc.UID != "42" || len(rtc.Privileges) != 4 {
		t.Fatalf("rtc %+v", rtc)
	}
	for p, exp := range rtc.Privileges {
		if p < rdk.PrivilegeJoinChannel || p > rdk.PrivilegePublishData || exp != 600 {
			t.Fatalf("privilege %d = %d", p, exp)
		}
	}
	for _, c := range []struct {
		now  int64
		want error
	}{{issue + 599, nil}, {issue + 600, rdk.ErrExpired}} {
		v, err := rdk.NewVerifier(kAppID, kCert, rdk.WithClock(clock(c.now)))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.VerifyMedia(token, "room 1", 42); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Fatalf("at %d: err = %v, want %v", c.now, err, c.want)
		}
	}
}

// Without --ts and --salt the key uses the injected clock and a random salt.
func TestKeyDefaults(t *testing.T) {
	args := []string{"media", "--app-id", kAppID, "--app-cert", kCert, "--channel", "c", "--uid", "1"}
	var salts []uint32
	for range 2 {
		out, _, err := runKeyOut(t, clock(1_600_000_000), args...)
		if err != nil {
			t.Fatal(err)
		}
		info, err := rdk.Inspect(strings.TrimSpace(out))
		if err != nil {
			t.Fatal(err)
		}
		if info.UnixTs != 1_600_000_000 || info.ExpiredTs != 0 {
			t.Fatalf("info %+v", info)
		}
		salts = append(salts, info.Salt)
	}
	if salts[0] == salts[1] {
		t.Fatalf("two keys share salt %d: not random", salts[0])
	}
	out, _, err := runKeyOut(t, clock(1_600_000_000), "token", "--app-id", kAppID, "--app-cert", kCert,
		"--channel", "c", "--uid", "0")
	if err != nil {
		t.Fatal(err)
	}
	info, err := rdk.Inspect(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if info.Expire != 86400 || info.IssueTs != 1_600_000_000 || info.Salt < 1 || info.Salt > 99999999 ||
		info.Services[0].UID != "" {
		t.Fatalf("token defaults %+v", info)
	}
}

func TestKeyInspect(t *testing.T) {
	tests := []struct {
		key  string
		want []string
	}{
		{"004e0c24ac56aae05229a6d9389860a1a0e25e56da8970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471",
			[]string{"version: 004", "format: DynamicKey4", "app_id: " + kAppID, "unix_ts: 1446455472 (2015-11-02T09:11:12Z)",
				"salt: 58964981", "expired_ts: 1446455471"}},
		{"005AgAoADkyOUM5RTQ2MTg3QTAyMkJBQUIyNkI3QkYwMTg0MzhDNjc1Q0ZFMUEQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA==",
			[]string{"version: 005", "service: recording", "app_id: " + kAppID}},
		{"007eJxTYOAQsrQ5s3TfH+1tvy8zZZ46EpCc0V43JXdGd2jS8porKo4KDJbmBs6OxqYpqWYGySYmZiamSUmJqRaJRoamBmaGScbG7l8EGCKYGBgYGRgYmIAkCxCD+ExgkhlMsoBJBQbzFHMjYzPT1CRLC2MTC1NjS/NU41TjNMsUEzODpJSURC4GIwsLI2MTQyNzY5BZEJM4GUpSi0viS4tTiwAipyp4",
			[]string{"version: 007", "format: AccessToken2", "issue_ts: 1111111", "expire: 600s", "service: rtc (1)",
				`channel: "` + kChannel + `"`, `uid: "2882341273"`, "join-channel: 600s", "publish-data: 600s",
				"service: rtm (2)", `uid: "test_user"`}},
	}
	for _, tt := range tests {
		out, _, err := runKeyOut(t, clock(0), "inspect", tt.key)
		if err != nil {
			t.Fatalf("%s: %v", tt.key[:3], err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tt.key[:3], w, out)
			}
		}
		if strings.Contains(out, tt.key) || strings.Contains(out, tt.key[3:43]) {
			t.Errorf("%s: output shows the key or its signature:\n%s", tt.key[:3], out)
		}
	}
	if _, _, err := runKeyOut(t, clock(0), "inspect", "004abc"); !errors.Is(err, rdk.ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
}

func TestKeyUsageErrors(t *testing.T) {
	base := []string{"--app-id", kAppID, "--app-cert", kCert, "--channel", "c", "--uid", "1"}
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"no sub-command", nil, errUsage},
		{"unknown sub-command", []string{"rtm"}, errUsage},
		{"missing uid", []string{"recording", "--app-id", kAppID, "--app-cert", kCert, "--channel", "c"}, errUsage},
		{"missing channel", []string{"media", "--app-id", kAppID, "--app-cert", kCert, "--uid", "1"}, errUsage},
		{"missing cert", []string{"token", "--app-id", kAppID, "--channel", "c", "--uid", "1"}, errUsage},
		{"bad format", append([]string{"recording", "--format", "006"}, base...), errUsage},
		{"bad uid", []string{"recording", "--uid", "-1"}, errUsage},
		{"uid too large", []string{"recording", "--uid", "4294967296"}, errUsage},
		{"bad cert", []string{"media", "--app-id", kAppID, "--app-cert", "secret!", "--channel", "c", "--uid", "1"}, errUsage},
		{"zero ttl", append([]string{"token", "--ttl", "0s"}, base...), errUsage},
		{"extra argument", append([]string{"recording"}, append(base, "extra")...), errUsage},
		{"inspect without key", []string{"inspect"}, errUsage},
		{"help", []string{"token", "-h"}, flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ARS_APP_ID", "")
			t.Setenv("ARS_APP_CERTIFICATE", "")
			out, stderr, err := runKeyOut(t, clock(0), tt.args...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if out != "" {
				t.Fatalf("stdout = %q, want nothing", out)
			}
			if strings.Contains(stderr+err.Error(), "secret!") {
				t.Fatalf("certificate echoed: %q / %v", stderr, err)
			}
		})
	}
}
