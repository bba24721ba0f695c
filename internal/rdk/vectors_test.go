package rdk

import (
	"errors"
	"testing"
	"time"
)

// Upstream vectors: AgoraIO/Tools DynamicKey/AgoraDynamicKey (Go tests of
// DynamicKey4, DynamicKey5 and accesstoken2; the same values appear in the
// Python, Node, Java and C++ tests).
const (
	upAppID   = "970ca35de60c44645bbae8a215061b33"
	upCert    = "5cfd2fd1755d40ecb72977518be15d3b"
	upChannel = "7d72365eb983485397e3e3f9d460bdda"
	upTs      = 1446455472
	upUID     = 2882341273
	upRandom  = 58964981
	upExpired = 1446455471

	up7AppID   = "970CA35de60c44645bbae8a215061b33"
	up7Cert    = "5CFd2fd1755d40ecb72977518be15d3b"
	up7Expire  = 600
	up7IssueTs = 1111111
	up7Salt    = 1
)

func upParams() DynamicKeyParams {
	return DynamicKeyParams{AppID: upAppID, AppCertificate: upCert, Channel: upChannel,
		UID: upUID, UnixTs: upTs, Salt: upRandom, ExpiredTs: upExpired}
}

func fixedClock(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

func TestKey4UpstreamVectors(t *testing.T) {
	tests := []struct {
		svc  Service4
		want string
	}{
		{Service4Recording, "004e0c24ac56aae05229a6d9389860a1a0e25e56da8970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471"},
		{Service4Media, "004d0ec5ee3179c964fe7c0485c045541de6bff332b970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471"},
		{Service4PublicSharing, "004ec32c0d528e58ef90e8ff437a9706124137dc795970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471"},
	}
	for _, tt := range tests {
		t.Run(string(tt.svc), func(t *testing.T) {
			got, err := BuildKey4(tt.svc, upParams())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("BuildKey4 = %s, want %s", got, tt.want)
			}
			k, err := ParseKey4(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if k.AppID != upAppID || k.UnixTs != upTs || k.Salt != upRandom || k.ExpiredTs != upExpired {
				t.Fatalf("parsed %+v", k)
			}
			for _, s := range service4All {
				if got := k.Verify(s, upCert, upChannel, upUID); got != (s == tt.svc) {
					t.Errorf("Verify(%s) = %v", s, got)
				}
			}
			if k.Verify(tt.svc, upCert, upChannel, upUID+1) || k.Verify(tt.svc, upCert, upChannel+"x", upUID) {
				t.Error("signature accepted another uid or channel")
			}
		})
	}
}

func TestKey5UpstreamVectors(t *testing.T) {
	tests := []struct {
		name  string
		svc   Service5
		extra map[uint16]string
		want  string
	}{
		{"public-sharing", Service5PublicSharing, nil, "005AwAoADc0QTk5RTVEQjI4MDk0NUI0NzUwNTk0MUFDMjM4MDU2NzIwREY3QjAQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA=="},
		{"recording", Service5Recording, nil, "005AgAoADkyOUM5RTQ2MTg3QTAyMkJBQUIyNkI3QkYwMTg0MzhDNjc1Q0ZFMUEQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA=="},
		{"media", Service5Media, nil, "005AQAoAEJERTJDRDdFNkZDNkU0ODYxNkYxQTYwOUVFNTM1M0U5ODNCQjFDNDQQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA=="},
		{"no-upload", Service5InChannelPermission, map[uint16]string{Extra5AllowUploadInChannel: "0"}, "005BAAoADgyNEQxNDE4M0FGRDkyOEQ4REFFMUU1OTg5NTg2MzA3MTEyNjRGNzQQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YBAAEAAQAw"},
		{"av-upload", Service5InChannelPermission, map[uint16]string{Extra5AllowUploadInChannel: "3"}, "005BAAoADJERDA3QThENTE2NzJGNjQwMzY5NTFBNzE0QkI5NTc0N0Q1QjZGQjMQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YBAAEAAQAz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildKey5(tt.svc, upParams(), tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("BuildKey5 = %s, want %s", got, tt.want)
			}
			k, err := ParseKey5(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if k.Service != tt.svc || k.AppID != upAppID || k.UnixTs != upTs || k.Salt != upRandom ||
				k.ExpiredTs != upExpired || len(k.Extra) != len(tt.extra) {
				t.Fatalf("parsed %+v", k)
			}
			for ek, ev := range tt.extra {
				if k.Extra[ek] != ev {
					t.Errorf("extra[%d] = %q, want %q", ek, k.Extra[ek], ev)
				}
			}
			if !k.Verify(upCert, upChannel, upUID) {
				t.Error("upstream key does not verify")
			}
			if k.Verify(upCert, upChannel, upUID+1) || k.Verify(upCert, "x", upUID) {
				t.Error("signature accepted another uid or channel")
			}
		})
	}
}

// The upstream vectors were made with expiredTs one second before unixTs, so
// an authentic vector must come out as expired (the signature is checked
// first), and as the wrong service when offered for the other use.
func TestDynamicKeyUpstreamVectorsThroughVerifier(t *testing.T) {
	v, err := NewVerifier(upAppID, upCert, WithClock(fixedClock(upTs)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		key       string
		recording bool
		want      error
	}{
		{"004 ARS as recording", "004e0c24ac56aae05229a6d9389860a1a0e25e56da8970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471", true, ErrExpired},
		{"004 ACS as media", "004d0ec5ee3179c964fe7c0485c045541de6bff332b970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471", false, ErrExpired},
		{"004 ACS as recording", "004d0ec5ee3179c964fe7c0485c045541de6bff332b970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471", true, ErrWrongService},
		{"004 APSS as media", "004ec32c0d528e58ef90e8ff437a9706124137dc795970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471", false, ErrWrongService},
		{"005 recording", "005AgAoADkyOUM5RTQ2MTg3QTAyMkJBQUIyNkI3QkYwMTg0MzhDNjc1Q0ZFMUEQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA==", true, ErrExpired},
		{"005 media", "005AQAoAEJERTJDRDdFNkZDNkU0ODYxNkYxQTYwOUVFNTM1M0U5ODNCQjFDNDQQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA==", false, ErrExpired},
		{"005 recording as media", "005AgAoADkyOUM5RTQ2MTg3QTAyMkJBQUIyNkI3QkYwMTg0MzhDNjc1Q0ZFMUEQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA==", false, ErrWrongService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verify := v.VerifyMedia
			if tt.recording {
				verify = v.VerifyRecording
			}
			if err := verify(tt.key, upChannel, upUID); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestToken7UpstreamVectors(t *testing.T) {
	tests := []struct {
		name  string
		token string
		// exact: the upstream Go test asserts this string from Go's zlib.
		exact    bool
		uid      uint32
		nService int
		all4     bool
	}{
		{"go rtc", "007eJxSYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxoAAAAD//8JqJOM=", true, upUID, 1, false},
		{"go rtc uid 0", "007eJxSYLhzZP08Lxa1Pg57+TcXb/3cZ3wi4V6kbpbOog0G2dOYk20UGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiQwMgAAAAP//Npwiag==", true, 0, 1, false},
		{"python rtc", "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj", false, upUID, 1, false},
		{"python rtc+rtm", "007eJxTYOAQsrQ5s3TfH+1tvy8zZZ46EpCc0V43JXdGd2jS8porKo4KDJbmBs6OxqYpqWYGySYmZiamSUmJqRaJRoamBmaGScbG7l8EGCKYGBgYGRgYmIAkCxCD+ExgkhlMsoBJBQbzFHMjYzPT1CRLC2MTC1NjS/NU41TjNMsUEzODpJSURC4GIwsLI2MTQyNzY5BZEJM4GUpSi0viS4tTiwAipyp4", false, upUID, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.exact {
				got, err := BuildToken7(TokenParams{AppID: up7AppID, AppCertificate: up7Cert, Channel: upChannel,
					UID: tt.uid, IssueTs: up7IssueTs, Salt: up7Salt, Expire: up7Expire,
					Privileges: map[uint16]uint32{PrivilegeJoinChannel: up7Expire}})
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.token {
					t.Fatalf("BuildToken7 = %s, want %s", got, tt.token)
				}
			}
			tok, err := ParseToken7(tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AppID != up7AppID || tok.IssueTs != up7IssueTs || tok.Expire != up7Expire || tok.Salt != up7Salt ||
				len(tok.Services) != tt.nService || tok.Partial {
				t.Fatalf("parsed %+v", tok)
			}
			rtc := tok.RTC()
			if len(rtc) != 1 || rtc[0].Channel != upChannel || rtc[0].UID != uidString(tt.uid) ||
				rtc[0].Privileges[PrivilegeJoinChannel] != up7Expire {
				t.Fatalf("rtc service %+v", rtc)
			}
			if _, ok := rtc[0].Privileges[PrivilegePublishAudio]; ok != tt.all4 {
				t.Fatalf("publish-audio privilege present = %v, want %v", ok, tt.all4)
			}
			if !tok.Verify(up7Cert) {
				t.Fatal("upstream token does not verify")
			}
			if tok.Verify(upCert) {
				t.Fatal("token verified with a certificate of other letter case")
			}
			v, err := NewVerifier(up7AppID, up7Cert, WithClock(fixedClock(up7IssueTs+1)))
			if err != nil {
				t.Fatal(err)
			}
			if err := v.VerifyMedia(tt.token, upChannel, upUID); err != nil {
				t.Fatalf("VerifyMedia: %v", err)
			}
		})
	}
}
