package rdk

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// AccessToken2 service types (AgoraIO/Tools accesstoken2 and agora-token).
const (
	ServiceRTC       = 1
	ServiceRTM       = 2
	ServiceStreaming = 3
	ServiceFPA       = 4
	ServiceChat      = 5
	ServiceFCDN      = 6
	ServiceApaas     = 7
	ServiceRTM2      = 8
	ServiceConvoAI   = 9
	ServiceSTT       = 10
)

// RTC service privileges.
const (
	PrivilegeJoinChannel  = 1
	PrivilegePublishAudio = 2
	PrivilegePublishVideo = 3
	PrivilegePublishData  = 4
)

// maxInflated bounds the decompressed token: real tokens are a few hundred
// bytes, and an unbounded inflate is a decompression bomb.
const maxInflated = 64 << 10

// TokenService is one service of an AccessToken2.
type TokenService struct {
	Type uint16
	// Privileges maps privilege to expiry in seconds after IssueTs
	// (0 = no privilege-specific limit).
	Privileges map[uint16]uint32
	// Channel is set for RTC, streaming and FCDN services.
	Channel string
	// UID is the RTC/streaming/FCDN account ("" = any uid, decimal for
	// numeric uids) or the RTM/chat/apaas user ID.
	UID string
}

// Token7 is a parsed AccessToken2.
type Token7 struct {
	AppID   string
	IssueTs uint32
	// Expire is the token lifetime in seconds after IssueTs.
	Expire   uint32
	Salt     uint32
	Services []TokenService
	// Partial is set when parsing stopped at a service type this package
	// does not know; the signature still covers every byte.
	Partial bool

	signature []byte
	info      []byte
}

// TokenParams are the inputs of BuildToken7 (one RTC service).
type TokenParams struct {
	AppID          string
	AppCertificate string
	Channel        string
	// UID 0 makes a token any uid may use, like upstream.
	UID uint32
	// IssueTs is the generation time in unix seconds.
	IssueTs uint32
	Salt    uint32
	// Expire is the token lifetime in seconds after IssueTs.
	Expire uint32
	// Privileges maps RTC privilege to seconds after IssueTs.
	Privileges map[uint16]uint32
}

// PublisherPrivileges are the RTC privileges upstream's RolePublisher gets:
// join and publish audio, video and data, each for expire seconds.
func PublisherPrivileges(expire uint32) map[uint16]uint32 {
	return map[uint16]uint32{
		PrivilegeJoinChannel:  expire,
		PrivilegePublishAudio: expire,
		PrivilegePublishVideo: expire,
		PrivilegePublishData:  expire,
	}
}

// uidString is upstream's GetUidStr: uid 0 is the empty account.
func uidString(uid uint32) string {
	if uid == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// BuildToken7 makes an AccessToken2 with one RTC service, like upstream's
// accesstoken2.Build (same bytes with Go's compress/zlib).
func BuildToken7(p TokenParams) (string, error) {
	if err := checkCredentials(p.AppID, p.AppCertificate); err != nil {
		return "", err
	}
	var info packer
	_ = info.str([]byte(p.AppID))
	info.u32(p.IssueTs)
	info.u32(p.Expire)
	info.u32(p.Salt)
	info.u16(1)
	info.u16(ServiceRTC)
	info.privileges(p.Privileges)
	if err := info.str([]byte(p.Channel)); err != nil {
		return "", err
	}
	_ = info.str([]byte(uidString(p.UID)))

	var content packer
	_ = content.str(sign7(p.AppCertificate, p.IssueTs, p.Salt, info.b))
	content.b = append(content.b, info.b...)

	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	if _, err := w.Write(content.b); err != nil {
		return "", fmt.Errorf("compress token: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("compress token: %w", err)
	}
	return Version7 + base64.StdEncoding.EncodeToString(z.Bytes()), nil
}

// sign7 is the AccessToken2 HMAC-SHA256 chain: the certificate keyed by
// issueTs, then by salt, then used as the key over the signed info.
func sign7(cert string, issueTs, salt uint32, info []byte) []byte {
	h := hmacSHA256(binary.LittleEndian.AppendUint32(nil, issueTs), []byte(cert))
	h = hmacSHA256(binary.LittleEndian.AppendUint32(nil, salt), h)
	return hmacSHA256(h, info)
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// ParseToken7 inflates and parses an AccessToken2 without checking its
// signature.
func ParseToken7(token string) (*Token7, error) {
	if !strings.HasPrefix(token, Version7) {
		return nil, fmt.Errorf("%w: not a 007 token", ErrMalformed)
	}
	z, err := base64.StdEncoding.DecodeString(token[3:])
	if err != nil {
		return nil, fmt.Errorf("%w: 007 base64", ErrMalformed)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("%w: 007 zlib header", ErrMalformed)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("%w: 007 zlib stream", ErrMalformed)
	}
	if len(raw) > maxInflated {
		return nil, fmt.Errorf("%w: 007 token inflates beyond %d bytes", ErrMalformed, maxInflated)
	}

	u := unpacker{b: raw}
	t := &Token7{signature: u.str()}
	infoStart := u.off
	t.AppID = string(u.str())
	t.IssueTs = u.u32()
	t.Expire = u.u32()
	t.Salt = u.u32()
	n := int(u.u16())
	if u.err != nil {
		return nil, u.err
	}
	t.info = raw[infoStart:]
	if len(t.signature) != sha256.Size {
		return nil, fmt.Errorf("%w: 007 signature length", ErrMalformed)
	}
	for range n {
		s, known := parseService(&u)
		if u.err != nil {
			return nil, u.err
		}
		if !known {
			t.Partial = true
			break
		}
		t.Services = append(t.Services, s)
	}
	return t, nil
}

// parseService reads one service; known is false for a type whose layout is
// unknown, after which nothing more can be parsed (upstream stops too).
func parseService(u *unpacker) (s TokenService, known bool) {
	s.Type = u.u16()
	switch s.Type {
	case ServiceRTC, ServiceStreaming, ServiceFCDN:
		s.Privileges = u.privileges()
		s.Channel = string(u.str())
		s.UID = string(u.str())
	case ServiceRTM, ServiceChat:
		s.Privileges = u.privileges()
		s.UID = string(u.str())
	case ServiceFPA, ServiceConvoAI, ServiceSTT:
		s.Privileges = u.privileges()
	case ServiceApaas:
		s.Privileges = u.privileges()
		s.Channel = string(u.str()) // room UUID
		s.UID = string(u.str())     // user UUID
		u.u16()                     // role
	case ServiceRTM2:
		s.Privileges = u.privileges()
		s.UID = string(u.str())
		skipRTM2Permissions(u)
	default:
		return s, false
	}
	return s, true
}

func skipRTM2Permissions(u *unpacker) {
	for range int(u.u16()) {
		u.u16() // resource type
		for range int(u.u16()) {
			u.u16() // permission type
			for range int(u.u16()) {
				u.str()
				if u.err != nil {
					return
				}
			}
		}
	}
}

// Verify reports whether the token was signed with cert. It recomputes the
// HMAC chain over the inflated bytes and compares in constant time; the
// compressed form is never compared.
func (t *Token7) Verify(cert string) bool {
	return hmac.Equal(sign7(cert, t.IssueTs, t.Salt, t.info), t.signature)
}

// RTC returns the token's RTC services (upstream writes at most one).
func (t *Token7) RTC() []TokenService {
	var out []TokenService
	for _, s := range t.Services {
		if s.Type == ServiceRTC {
			out = append(out, s)
		}
	}
	return out
}
