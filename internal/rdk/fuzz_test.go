package rdk

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Seeds shared by the fuzz targets; the committed corpora under
// testdata/fuzz/ hold more (upstream and agora-token vectors, edge cases).
var fuzzSeeds = []string{
	"004e0c24ac56aae05229a6d9389860a1a0e25e56da8970ca35de60c44645bbae8a215061b3314464554720383bbf51446455471",
	"005AgAoADkyOUM5RTQ2MTg3QTAyMkJBQUIyNkI3QkYwMTg0MzhDNjc1Q0ZFMUEQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YAAA==",
	"005BAAoADJERDA3QThENTE2NzJGNjQwMzY5NTFBNzE0QkI5NTc0N0Q1QjZGQjMQAJcMo13mDERkW7roohUGGzOwKDdW9buDA68oN1YBAAEAAQAz",
	"007eJxTYOAQsrQ5s3TfH+1tvy8zZZ46EpCc0V43JXdGd2jS8porKo4KDJbmBs6OxqYpqWYGySYmZiamSUmJqRaJRoamBmaGScbG7l8EGCKYGBgYGRgYmIAkCxCD+ExgkhlMsoBJBQbzFHMjYzPT1CRLC2MTC1NjS/NU41TjNMsUEzODpJSURC4GIwsLI2MTQyNzY5BZEJM4GUpSi0viS4tTiwAipyp4",
}

func FuzzParseKey4(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := ParseKey4(key)
		if err != nil {
			return
		}
		// Every parsed field must re-serialise to the key (hex case aside).
		back := fmt.Sprintf("004%x%s%010d%08x%010d", k.signature, k.AppID, k.UnixTs, k.Salt, k.ExpiredTs)
		if !strings.EqualFold(back, key) {
			t.Fatalf("round trip %q -> %q", key, back)
		}
		k.Verify(Service4Media, upCert, "c", 1)
	})
}

func FuzzParseKey5(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := ParseKey5(key)
		if err != nil {
			return
		}
		if !isHex32(k.AppID) || len(k.signature) != 20 {
			t.Fatalf("accepted app ID %q, signature of %d bytes", k.AppID, len(k.signature))
		}
		k.Verify(upCert, "c", 1)
	})
}

func FuzzParseToken7(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := ParseToken7(token)
		if err != nil {
			return
		}
		if len(tok.signature) != 32 {
			t.Fatalf("accepted a signature of %d bytes", len(tok.signature))
		}
		tok.Verify(up7Cert)
		info, err := Inspect(token)
		if err != nil || info.IssueTs != tok.IssueTs || len(info.Services) != len(tok.Services) {
			t.Fatalf("Inspect disagrees with ParseToken7: %v", err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, upChannel, uint32(upUID))
	}
	v4, err := NewVerifier(upAppID, upCert, WithClock(func() time.Time { return time.Unix(upTs, 0) }))
	if err != nil {
		f.Fatal(err)
	}
	v7, err := NewVerifier(up7AppID, up7Cert, WithClock(func() time.Time { return time.Unix(up7IssueTs+1, 0) }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, channel string, uid uint32) {
		for _, v := range []*Verifier{v4, v7} {
			for _, verify := range []func(string, string, uint32) error{v.VerifyRecording, v.VerifyMedia} {
				err := verify(key, channel, uid)
				if err == nil {
					if _, ierr := Inspect(key); ierr != nil {
						t.Fatalf("verified a key Inspect rejects: %v", ierr)
					}
				} else if strings.Contains(strings.ToLower(err.Error()), upCert) {
					t.Fatalf("error leaks the certificate: %v", err)
				}
			}
		}
	})
}
