package rdk

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

const (
	tAppID   = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	tCert    = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	tOther   = "ffffffffffffffffffffffffffffffff"
	tChannel = "room-7"
	tUID     = 4242
	tNow     = 1_700_000_000
)

func dk(ts, exp uint32) DynamicKeyParams {
	return DynamicKeyParams{AppID: tAppID, AppCertificate: tCert, Channel: tChannel, UID: tUID,
		UnixTs: ts, Salt: 0xdeadbeef, ExpiredTs: exp}
}

// must returns a checker for a generator's (key, error) result.
func must(t *testing.T) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// retoken re-packs a 007 token after edit changed its inflated bytes,
// keeping the old signature: a forgery attempt, not a decoding error.
func retoken(t *testing.T, token string, edit func([]byte)) string {
	t.Helper()
	z, err := base64.StdEncoding.DecodeString(token[3:])
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	edit(raw)
	var out bytes.Buffer
	w := zlib.NewWriter(&out)
	w.Write(raw)
	w.Close()
	return Version7 + base64.StdEncoding.EncodeToString(out.Bytes())
}

func flipChar(s string, i int) string {
	b := []byte(s)
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	return string(b)
}

func TestVerifier(t *testing.T) {
	tok := func(p TokenParams) string {
		if p.AppID == "" {
			p.AppID = tAppID
		}
		p.AppCertificate = tCert
		if p.Channel == "" {
			p.Channel = tChannel
		}
		return must(t)(BuildToken7(p))
	}
	pub := func(uid uint32, expire uint32) TokenParams {
		return TokenParams{UID: uid, IssueTs: tNow, Salt: 77, Expire: expire, Privileges: PublisherPrivileges(expire)}
	}
	k4 := func(svc Service4, p DynamicKeyParams) string { return must(t)(BuildKey4(svc, p)) }
	k5 := func(svc Service5, p DynamicKeyParams) string { return must(t)(BuildKey5(svc, p, nil)) }

	rec4 := k4(Service4Recording, dk(tNow, 0))
	rec5 := k5(Service5Recording, dk(tNow, 0))
	media7 := tok(pub(tUID, 3600))
	otherApp4 := dk(tNow, 0)
	otherApp4.AppID = tOther
	otherApp7 := pub(tUID, 3600)
	otherApp7.AppID = tOther

	const rec, media = true, false
	tests := []struct {
		name      string
		key       string
		recording bool
		channel   string
		uid       uint32
		now       int64
		want      error
	}{
		{"004 recording ok", rec4, rec, tChannel, tUID, tNow, nil},
		{"004 recording within skew", rec4, rec, tChannel, tUID, tNow + 300, nil},
		{"004 recording too old", rec4, rec, tChannel, tUID, tNow + 301, ErrExpired},
		{"004 recording from the future", rec4, rec, tChannel, tUID, tNow - 301, ErrExpired},
		{"004 recording expiredTs passed", k4(Service4Recording, dk(tNow, tNow+10)), rec, tChannel, tUID, tNow + 10, ErrExpired},
		{"004 recording expiredTs ahead", k4(Service4Recording, dk(tNow, tNow+10)), rec, tChannel, tUID, tNow + 9, nil},
		{"004 media ok", k4(Service4Media, dk(tNow, 0)), media, tChannel, tUID, tNow, nil},
		{"004 recording wrong channel", rec4, rec, "room-8", tUID, tNow, ErrBadSignature},
		{"004 recording wrong uid", rec4, rec, tChannel, tUID + 1, tNow, ErrBadSignature},
		{"004 recording uid 0 is not a wildcard", rec4, rec, tChannel, 0, tNow, ErrBadSignature},
		{"004 recording as media", rec4, media, tChannel, tUID, tNow, ErrWrongService},
		{"004 media as recording", k4(Service4Media, dk(tNow, 0)), rec, tChannel, tUID, tNow, ErrWrongService},
		{"004 wrong app", k4(Service4Recording, otherApp4), rec, tChannel, tUID, tNow, ErrWrongApp},
		{"004 tampered signature", flipChar(rec4, 10), rec, tChannel, tUID, tNow, ErrBadSignature},
		{"004 tampered expiredTs", rec4[:len(rec4)-1] + "9", rec, tChannel, tUID, tNow, ErrBadSignature},
		{"004 truncated", rec4[:len(rec4)-1], rec, tChannel, tUID, tNow, ErrMalformed},
		{"004 non-digit ts", rec4[:75] + "x" + rec4[76:], rec, tChannel, tUID, tNow, ErrMalformed},

		{"005 recording ok", rec5, rec, tChannel, tUID, tNow, nil},
		{"005 media ok", k5(Service5Media, dk(tNow, 0)), media, tChannel, tUID, tNow, nil},
		{"005 recording too old", rec5, rec, tChannel, tUID, tNow + 600, ErrExpired},
		{"005 expiredTs passed", k5(Service5Recording, dk(tNow, tNow+1)), rec, tChannel, tUID, tNow + 2, ErrExpired},
		{"005 wrong channel", rec5, rec, "room-8", tUID, tNow, ErrBadSignature},
		{"005 wrong uid", rec5, rec, tChannel, 1, tNow, ErrBadSignature},
		{"005 recording as media", rec5, media, tChannel, tUID, tNow, ErrWrongService},
		{"005 public sharing as media", k5(Service5PublicSharing, dk(tNow, 0)), media, tChannel, tUID, tNow, ErrWrongService},
		{"005 wrong app", k5(Service5Recording, otherApp4), rec, tChannel, tUID, tNow, ErrWrongApp},
		{"005 tampered", func() string {
			k := must(t)(BuildKey5(Service5Recording, dk(tNow, 0), nil))
			raw, _ := base64.StdEncoding.DecodeString(k[3:])
			raw[len(raw)-3]++ // expiredTs
			return Version5 + base64.StdEncoding.EncodeToString(raw)
		}(), rec, tChannel, tUID, tNow, ErrBadSignature},
		{"005 bad base64", "005!!!!", rec, tChannel, tUID, tNow, ErrMalformed},
		{"005 truncated", rec5[:20], rec, tChannel, tUID, tNow, ErrMalformed},

		{"007 ok", media7, media, tChannel, tUID, tNow + 1, nil},
		{"007 lifetime passed", media7, media, tChannel, tUID, tNow + 3600, ErrExpired},
		{"007 issued in the future", media7, media, tChannel, tUID, tNow - 301, ErrExpired},
		{"007 join privilege expired", tok(TokenParams{UID: tUID, IssueTs: tNow, Expire: 3600,
			Privileges: map[uint16]uint32{PrivilegeJoinChannel: 60}}), media, tChannel, tUID, tNow + 60, ErrExpired},
		{"007 join privilege 0 never expires", tok(TokenParams{UID: tUID, IssueTs: tNow, Expire: 3600,
			Privileges: map[uint16]uint32{PrivilegeJoinChannel: 0}}), media, tChannel, tUID, tNow + 3599, nil},
		{"007 token expire 0", tok(TokenParams{UID: tUID, IssueTs: tNow, Expire: 0,
			Privileges: map[uint16]uint32{PrivilegeJoinChannel: 0}}), media, tChannel, tUID, tNow, ErrExpired},
		{"007 no join privilege", tok(TokenParams{UID: tUID, IssueTs: tNow, Expire: 3600,
			Privileges: map[uint16]uint32{PrivilegePublishAudio: 3600}}), media, tChannel, tUID, tNow, ErrNoPrivilege},
		{"007 wrong channel", media7, media, "room-8", tUID, tNow, ErrWrongChannelOrUID},
		{"007 wrong uid", media7, media, tChannel, tUID + 1, tNow, ErrWrongChannelOrUID},
		{"007 uid 0 admits any uid", tok(pub(0, 3600)), media, tChannel, 99, tNow, nil},
		{"007 as recording", media7, rec, tChannel, tUID, tNow, ErrWrongService},
		{"007 wrong app", tok(otherApp7), media, tChannel, tUID, tNow, ErrWrongApp},
		{"007 tampered expire", retoken(t, media7, func(b []byte) {
			// signature string (2+32), app ID string (2+32), issueTs (4), expire.
			b[2+32+2+32+4+1]++
		}), media, tChannel, tUID, tNow, ErrBadSignature},
		{"007 tampered channel", retoken(t, media7, func(b []byte) {
			i := bytes.Index(b, []byte(tChannel))
			b[i+len(tChannel)-1] = '8'
		}), media, "room-8", tUID, tNow, ErrBadSignature},
		{"007 corrupt zlib", media7[:len(media7)-8] + "AAAAAAA=", media, tChannel, tUID, tNow, ErrMalformed},

		{"empty", "", media, tChannel, tUID, tNow, ErrMalformed},
		{"006 unsupported", "006" + tAppID + "IAAAAA", media, tChannel, tUID, tNow, ErrMalformed},
		{"garbage", "hello", rec, tChannel, tUID, tNow, ErrMalformed},
		{"huge", "007" + strings.Repeat("A", maxKeyLen), media, tChannel, tUID, tNow, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(strings.ToUpper(tAppID), tCert, WithClock(fixedClock(tt.now)))
			if err != nil {
				t.Fatal(err)
			}
			verify := v.VerifyMedia
			if tt.recording {
				verify = v.VerifyRecording
			}
			err = verify(tt.key, tt.channel, tt.uid)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				msg := err.Error()
				if strings.Contains(strings.ToLower(msg), tCert) || len(tt.key) > 8 && strings.Contains(msg, tt.key) {
					t.Fatalf("error message leaks a secret: %q", msg)
				}
			}
		})
	}
}

func TestVerifierMaxSkewOption(t *testing.T) {
	key := must(t)(BuildKey4(Service4Recording, dk(tNow, 0)))
	v, err := NewVerifier(tAppID, tCert, WithClock(fixedClock(tNow+90)), WithMaxSkew(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyRecording(key, tChannel, tUID); !errors.Is(err, ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired with a 1m skew", err)
	}
}

func TestNewVerifierRejectsBadCredentials(t *testing.T) {
	for _, c := range []struct{ id, cert string }{
		{"", tCert}, {tAppID, ""}, {"abc", tCert}, {tAppID, "5CFd2fd1755d40ecb72977518be15d3Z"},
	} {
		if _, err := NewVerifier(c.id, c.cert); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("NewVerifier(%q, %q) err = %v", c.id, c.cert, err)
		}
	}
}

// Upstream 007 tokens without an RTC service are authentic but useless for
// media.
func TestToken7WithoutRTC(t *testing.T) {
	v, err := NewVerifier(up7AppID, up7Cert, WithClock(fixedClock(up7IssueTs+1)))
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{
		"no services": "007eJxSYEiJ9+zw7Gb1viNuGtMfy3JriuZNp+1h1iLu/rOePHlS91WBwdLcwNnR2DQl1cwg2cTEzMQ0KSkx1SLRyNDUwMwwydjY/YsAQwQTAwMjAwgAAgAA//+rZxiv",
		"rtm only":    "007eJxSYOCdJftjyTM2zxW6Xhm/5T0j5LdcUt/xYVt48fb5Mp3PX9coMFiaGzg7GpumpJoZJJuYmJmYJiUlplokGhmaGpgZJhkbu38RYIhgYmBgZABhJgZGBkYwn5OhJLW4JL60OLUIEAAA//9ZVh6A",
	} {
		if err := v.VerifyMedia(token, upChannel, upUID); !errors.Is(err, ErrWrongService) {
			t.Errorf("%s: err = %v, want ErrWrongService", name, err)
		}
	}
	info, err := Inspect("007eJxSYOCdJftjyTM2zxW6Xhm/5T0j5LdcUt/xYVt48fb5Mp3PX9coMFiaGzg7GpumpJoZJJuYmJmYJiUlplokGhmaGpgZJhkbu38RYIhgYmBgZABhJgZGBkYwn5OhJLW4JL60OLUIEAAA//9ZVh6A")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Services) != 1 || info.Services[0].Type != ServiceRTM || info.Services[0].UID != "test_user" {
		t.Fatalf("services %+v", info.Services)
	}
}

func TestInspect(t *testing.T) {
	tests := []struct {
		key   string
		check func(Info) bool
	}{
		{"004e0c24ac56aae05229a6d9389860a1a0e25e56da8970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471",
			func(i Info) bool {
				return i.Version == "004" && i.AppID == upAppID && i.UnixTs == upTs && i.Salt == upRandom && i.ExpiredTs == upExpired && i.Service == ""
			}},
		{"005AgAoADkyOUM5RTQ2MTg3QTAyMkJBQUIyNkI3QkYwMTg0MzhDNjc1Q0ZFMUEQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA==",
			func(i Info) bool {
				return i.Version == "005" && i.Service == "recording" && i.AppID == upAppID && i.UnixTs == upTs
			}},
		{"007eJxTYOAQsrQ5s3TfH+1tvy8zZZ46EpCc0V43JXdGd2jS8porKo4KDJbmBs6OxqYpqWYGySYmZiamSUmJqRaJRoamBmaGScbG7l8EGCKYGBgYGRgYmIAkCxCD+ExgkhlMsoBJBQbzFHMjYzPT1CRLC2MTC1NjS/NU41TjNMsUEzODpJSURC4GIwsLI2MTQyNzY5BZEJM4GUpSi0viS4tTiwAipyp4",
			func(i Info) bool {
				return i.Version == "007" && i.AppID == up7AppID && i.IssueTs == up7IssueTs && i.Expire == up7Expire &&
					len(i.Services) == 2 && i.Services[0].Channel == upChannel && i.Services[0].UID == "2882341273" &&
					len(i.Services[0].Privileges) == 4 && i.Services[1].UID == "test_user"
			}},
	}
	for _, tt := range tests {
		info, err := Inspect(tt.key)
		if err != nil {
			t.Fatalf("%s: %v", tt.key[:3], err)
		}
		if !tt.check(info) {
			t.Errorf("%s: info %+v", tt.key[:3], info)
		}
	}
	if _, err := Inspect("008abc"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown version: %v", err)
	}
}

func TestGeneratorsRejectBadCredentials(t *testing.T) {
	p := dk(tNow, 0)
	p.AppCertificate = "not-hex"
	if _, err := BuildKey4(Service4Media, p); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("BuildKey4: %v", err)
	}
	if _, err := BuildKey5(Service5Media, p, nil); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("BuildKey5: %v", err)
	}
	if _, err := BuildToken7(TokenParams{AppID: tAppID, AppCertificate: "x"}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("BuildToken7: %v", err)
	}
	long := dk(tNow, 0)
	long.Channel = strings.Repeat("c", 70000)
	if _, err := BuildKey5(Service5Media, long, nil); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("BuildKey5 long channel: %v", err)
	}
}

// rawToken7 signs and packs hand-made info bytes, for layouts BuildToken7
// does not make.
func rawToken7(info []byte, issueTs, salt uint32) string {
	var c packer
	_ = c.str(sign7(tCert, issueTs, salt, info))
	c.b = append(c.b, info...)
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(c.b)
	w.Close()
	return Version7 + base64.StdEncoding.EncodeToString(z.Bytes())
}

func TestToken7OtherServiceLayouts(t *testing.T) {
	head := func(n uint16) *packer {
		var p packer
		_ = p.str([]byte(tAppID))
		p.u32(tNow)
		p.u32(600)
		p.u32(5)
		p.u16(n)
		return &p
	}
	rtc := func(p *packer) {
		p.u16(ServiceRTC)
		p.privileges(map[uint16]uint32{PrivilegeJoinChannel: 0})
		_ = p.str([]byte(tChannel))
		_ = p.str(nil)
	}
	// RTC then a service type from the future: RTC still usable, parse partial.
	unknown := head(2)
	rtc(unknown)
	unknown.u16(99)
	unknown.u16(0)
	// RTM2 alone, with nested permissions: authentic but no RTC service.
	rtm2 := head(1)
	rtm2.u16(ServiceRTM2)
	rtm2.privileges(map[uint16]uint32{1: 600})
	_ = rtm2.str([]byte("user"))
	rtm2.u16(1) // resource types
	rtm2.u16(1) // resource type
	rtm2.u16(1) // permissions
	rtm2.u16(1) // permission type
	rtm2.u16(2) // resources
	_ = rtm2.str([]byte("r1"))
	_ = rtm2.str([]byte("r22"))

	v, err := NewVerifier(tAppID, tCert, WithClock(fixedClock(tNow)))
	if err != nil {
		t.Fatal(err)
	}
	tok := rawToken7(unknown.b, tNow, 5)
	if err := v.VerifyMedia(tok, tChannel, 1); err != nil {
		t.Fatalf("RTC before an unknown service: %v", err)
	}
	info, err := Inspect(tok)
	if err != nil || !info.Partial || len(info.Services) != 1 {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
	tok = rawToken7(rtm2.b, tNow, 5)
	if err := v.VerifyMedia(tok, tChannel, 1); !errors.Is(err, ErrWrongService) {
		t.Fatalf("RTM2 only: %v", err)
	}
	info, err = Inspect(tok)
	if err != nil || info.Partial || len(info.Services) != 1 || info.Services[0].UID != "user" {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
}
