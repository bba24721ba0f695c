package rdk

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // DynamicKey5 is defined with HMAC-SHA1.
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Service5 is the DynamicKey5 service type, stored in clear in the key.
type Service5 uint16

// DynamicKey5 service types.
const (
	Service5Media               Service5 = 1
	Service5Recording           Service5 = 2
	Service5PublicSharing       Service5 = 3
	Service5InChannelPermission Service5 = 4
)

// Extra5AllowUploadInChannel is the extra key of in-channel permission keys
// (value "0" no upload, "3" audio and video upload).
const Extra5AllowUploadInChannel = 1

// Key5 is a parsed DynamicKey5.
type Key5 struct {
	Service Service5
	// AppID is lowercase hex: the key holds the decoded bytes, so the
	// original letter case is gone (and irrelevant to the signature).
	AppID     string
	UnixTs    uint32
	Salt      uint32
	ExpiredTs uint32
	Extra     map[uint16]string

	signature []byte
	rawAppID  []byte
	rawExtra  []byte
}

// BuildKey5 makes a DynamicKey5 exactly like AgoraIO/Tools' DynamicKey5.go.
// extra may be nil.
func BuildKey5(svc Service5, p DynamicKeyParams, extra map[uint16]string) (string, error) {
	if err := checkCredentials(p.AppID, p.AppCertificate); err != nil {
		return "", err
	}
	appID, _ := hex.DecodeString(p.AppID)
	cert, _ := hex.DecodeString(p.AppCertificate)
	var ex packer
	keys := make([]int, 0, len(extra))
	for k := range extra {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	ex.u16(uint16(len(keys)))
	for _, k := range keys {
		ex.u16(uint16(k))
		if err := ex.str([]byte(extra[uint16(k)])); err != nil {
			return "", err
		}
	}
	msg, err := message5(svc, appID, p.UnixTs, p.Salt, p.Channel, p.UID, p.ExpiredTs, ex.b)
	if err != nil {
		return "", err
	}
	sig := strings.ToUpper(hex.EncodeToString(hmacSHA1(cert, msg)))

	var c packer
	c.u16(uint16(svc))
	_ = c.str([]byte(sig))
	_ = c.str(appID)
	c.u32(p.UnixTs)
	c.u32(p.Salt)
	c.u32(p.ExpiredTs)
	c.b = append(c.b, ex.b...)
	return Version5 + base64.StdEncoding.EncodeToString(c.b), nil
}

func message5(svc Service5, appID []byte, ts, salt uint32, channel string, uid, exp uint32, extra []byte) ([]byte, error) {
	var m packer
	m.u16(uint16(svc))
	_ = m.str(appID)
	m.u32(ts)
	m.u32(salt)
	if err := m.str([]byte(channel)); err != nil {
		return nil, err
	}
	m.u32(uid)
	m.u32(exp)
	m.b = append(m.b, extra...)
	return m.b, nil
}

func hmacSHA1(key, msg []byte) []byte {
	m := hmac.New(sha1.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// ParseKey5 parses a DynamicKey5 without checking its signature.
func ParseKey5(key string) (*Key5, error) {
	if !strings.HasPrefix(key, Version5) {
		return nil, fmt.Errorf("%w: not a 005 key", ErrMalformed)
	}
	raw, err := base64.StdEncoding.DecodeString(key[3:])
	if err != nil {
		return nil, fmt.Errorf("%w: 005 base64", ErrMalformed)
	}
	u := unpacker{b: raw}
	k := &Key5{Service: Service5(u.u16())}
	sigHex := u.str()
	k.rawAppID = u.str()
	k.UnixTs = u.u32()
	k.Salt = u.u32()
	k.ExpiredTs = u.u32()
	extraStart := u.off
	n := int(u.u16())
	if u.err == nil {
		k.Extra = make(map[uint16]string, min(n, 16))
	}
	for range n {
		ek := u.u16()
		ev := u.str()
		if u.err != nil {
			break
		}
		k.Extra[ek] = string(ev)
	}
	if u.err != nil {
		return nil, u.err
	}
	// Trailing bytes are outside the signature; no generator writes them.
	if u.off != len(raw) {
		return nil, fmt.Errorf("%w: 005 trailing bytes", ErrMalformed)
	}
	k.rawExtra = raw[extraStart:]
	if len(sigHex) != 40 {
		return nil, fmt.Errorf("%w: 005 signature length", ErrMalformed)
	}
	if k.signature, err = hex.DecodeString(string(sigHex)); err != nil {
		return nil, fmt.Errorf("%w: 005 signature is not hex", ErrMalformed)
	}
	if len(k.rawAppID) != 16 {
		return nil, fmt.Errorf("%w: 005 app ID length", ErrMalformed)
	}
	k.AppID = hex.EncodeToString(k.rawAppID)
	return k, nil
}

// Verify reports whether the key was signed with cert (hex) for its own
// service and this channel and uid. The comparison is constant-time.
func (k *Key5) Verify(cert, channel string, uid uint32) bool {
	c, err := hex.DecodeString(cert)
	if err != nil {
		return false
	}
	msg, err := message5(k.Service, k.rawAppID, k.UnixTs, k.Salt, channel, uid, k.ExpiredTs, k.rawExtra)
	if err != nil {
		return false
	}
	return hmac.Equal(hmacSHA1(c, msg), k.signature)
}
