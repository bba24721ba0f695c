package rdk

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // DynamicKey4 is defined with HMAC-SHA1.
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Version prefixes of the supported formats.
const (
	Version4 = "004"
	Version5 = "005"
	Version7 = "007"
)

// Service4 is the DynamicKey4 service type. It is the first part of the
// signed message and does not appear in the key itself.
type Service4 string

// DynamicKey4 service types.
const (
	Service4Recording     Service4 = "ARS"
	Service4Media         Service4 = "ACS"
	Service4PublicSharing Service4 = "APSS"
)

// service4All lists the services a 004 key is tried against to tell a key of
// another service from a forged one.
var service4All = [...]Service4{Service4Recording, Service4Media, Service4PublicSharing}

// key4Len is "004" + 40 hex signature + 32 app ID + 10 unixTs + 8 hex
// randomInt + 10 expiredTs.
const key4Len = 3 + 40 + 32 + 10 + 8 + 10

// DynamicKeyParams are the inputs of the DynamicKey4 and DynamicKey5
// generators.
type DynamicKeyParams struct {
	AppID          string
	AppCertificate string
	Channel        string
	UID            uint32
	// UnixTs is the generation time; keys are usable for a few minutes
	// around it.
	UnixTs uint32
	// Salt is upstream's randomInt.
	Salt uint32
	// ExpiredTs is when the user is removed from the channel, 0 = no limit.
	ExpiredTs uint32
}

// Key4 is a parsed DynamicKey4. The decimal and hex fields keep the exact
// characters of the key because those are what was signed.
type Key4 struct {
	AppID     string
	UnixTs    uint32
	Salt      uint32
	ExpiredTs uint32

	signature []byte
	unixTsStr string
	saltStr   string
	expiryStr string
}

// BuildKey4 makes a DynamicKey4 exactly like AgoraIO/Tools' DynamicKey4.go.
func BuildKey4(svc Service4, p DynamicKeyParams) (string, error) {
	if err := checkCredentials(p.AppID, p.AppCertificate); err != nil {
		return "", err
	}
	ts := fmt.Sprintf("%010d", p.UnixTs)
	salt := fmt.Sprintf("%08x", p.Salt)
	exp := fmt.Sprintf("%010d", p.ExpiredTs)
	sig := sign4(svc, p.AppID, p.AppCertificate, ts, salt, p.Channel, p.UID, exp)
	return Version4 + hex.EncodeToString(sig) + p.AppID + ts + salt + exp, nil
}

func sign4(svc Service4, appID, cert, ts, salt, channel string, uid uint32, exp string) []byte {
	m := hmac.New(sha1.New, []byte(cert))
	m.Write([]byte(string(svc) + appID + ts + salt + channel + fmt.Sprintf("%010d", uid) + exp))
	return m.Sum(nil)
}

// ParseKey4 parses a DynamicKey4 without checking its signature.
func ParseKey4(key string) (*Key4, error) {
	if len(key) != key4Len || !strings.HasPrefix(key, Version4) {
		return nil, fmt.Errorf("%w: a 004 key has %d characters", ErrMalformed, key4Len)
	}
	rest := key[3:]
	sig, err := hex.DecodeString(rest[:40])
	if err != nil {
		return nil, fmt.Errorf("%w: 004 signature is not hex", ErrMalformed)
	}
	k := &Key4{
		signature: sig,
		AppID:     rest[40:72],
		unixTsStr: rest[72:82],
		saltStr:   rest[82:90],
		expiryStr: rest[90:100],
	}
	if !isHex32(k.AppID) {
		return nil, fmt.Errorf("%w: 004 app ID is not hex", ErrMalformed)
	}
	if k.UnixTs, err = parseDigits(k.unixTsStr, 10); err != nil {
		return nil, fmt.Errorf("%w: 004 timestamp", ErrMalformed)
	}
	if k.Salt, err = parseDigits(k.saltStr, 16); err != nil {
		return nil, fmt.Errorf("%w: 004 random", ErrMalformed)
	}
	if k.ExpiredTs, err = parseDigits(k.expiryStr, 10); err != nil {
		return nil, fmt.Errorf("%w: 004 expiry", ErrMalformed)
	}
	return k, nil
}

// parseDigits accepts only plain digits of the base: strconv alone would
// also take signs and underscores.
func parseDigits(s string, base int) (uint32, error) {
	for _, c := range []byte(s) {
		ok := c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		if !ok {
			return 0, strconv.ErrSyntax
		}
	}
	v, err := strconv.ParseUint(s, base, 32)
	return uint32(v), err
}

// Verify reports whether the key was signed with cert for this service,
// channel and uid. The comparison is constant-time.
func (k *Key4) Verify(svc Service4, cert, channel string, uid uint32) bool {
	want := sign4(svc, k.AppID, cert, k.unixTsStr, k.saltStr, channel, uid, k.expiryStr)
	return hmac.Equal(want, k.signature)
}
