package rdk

import (
	"fmt"
	"strings"
)

// Info is what a key reveals without the certificate. It never holds the
// signature or the certificate.
type Info struct {
	// Version is "004", "005" or "007".
	Version string
	// Format names the version: DynamicKey4, DynamicKey5 or AccessToken2.
	Format string
	AppID  string
	// Service is the 005 service name ("recording", "media", ...); empty for
	// 004, whose service is only inside the signature, and for 007 (see
	// Services).
	Service string
	// UnixTs is the 004/005 generation time; IssueTs the 007 one.
	UnixTs  uint32
	IssueTs uint32
	Salt    uint32
	// ExpiredTs is the 004/005 removal time (0 = no limit).
	ExpiredTs uint32
	// Expire is the 007 lifetime in seconds after IssueTs.
	Expire uint32
	// Extra is the 005 extra map.
	Extra map[uint16]string
	// Services are the parsed 007 services (channel and uid in clear).
	Services []TokenService
	// Partial is set when a 007 token holds a service type this package
	// cannot parse past.
	Partial bool
}

// Inspect parses any supported key without verifying it.
func Inspect(key string) (Info, error) {
	if len(key) > maxKeyLen {
		return Info{}, fmt.Errorf("%w: key longer than %d bytes", ErrMalformed, maxKeyLen)
	}
	switch {
	case strings.HasPrefix(key, Version4):
		k, err := ParseKey4(key)
		if err != nil {
			return Info{}, err
		}
		return Info{Version: Version4, Format: "DynamicKey4", AppID: k.AppID, UnixTs: k.UnixTs,
			Salt: k.Salt, ExpiredTs: k.ExpiredTs}, nil
	case strings.HasPrefix(key, Version5):
		k, err := ParseKey5(key)
		if err != nil {
			return Info{}, err
		}
		return Info{Version: Version5, Format: "DynamicKey5", AppID: k.AppID, Service: k.Service.String(),
			UnixTs: k.UnixTs, Salt: k.Salt, ExpiredTs: k.ExpiredTs, Extra: k.Extra}, nil
	case strings.HasPrefix(key, Version7):
		t, err := ParseToken7(key)
		if err != nil {
			return Info{}, err
		}
		return Info{Version: Version7, Format: "AccessToken2", AppID: t.AppID, IssueTs: t.IssueTs,
			Salt: t.Salt, Expire: t.Expire, Services: t.Services, Partial: t.Partial}, nil
	}
	return Info{}, fmt.Errorf("%w: unsupported key version", ErrMalformed)
}

// String names the service.
func (s Service5) String() string {
	switch s {
	case Service5Media:
		return "media"
	case Service5Recording:
		return "recording"
	case Service5PublicSharing:
		return "public-sharing"
	case Service5InChannelPermission:
		return "in-channel-permission"
	}
	return fmt.Sprintf("unknown(%d)", uint16(s))
}

// ServiceName names an AccessToken2 service type.
func ServiceName(t uint16) string {
	names := [...]string{ServiceRTC: "rtc", ServiceRTM: "rtm", ServiceStreaming: "streaming",
		ServiceFPA: "fpa", ServiceChat: "chat", ServiceFCDN: "fcdn", ServiceApaas: "apaas",
		ServiceRTM2: "rtm2", ServiceConvoAI: "convoai", ServiceSTT: "stt"}
	if int(t) < len(names) && names[t] != "" {
		return names[t]
	}
	return fmt.Sprintf("unknown(%d)", t)
}

// PrivilegeName names an RTC privilege.
func PrivilegeName(p uint16) string {
	switch p {
	case PrivilegeJoinChannel:
		return "join-channel"
	case PrivilegePublishAudio:
		return "publish-audio"
	case PrivilegePublishVideo:
		return "publish-video"
	case PrivilegePublishData:
		return "publish-data"
	}
	return fmt.Sprintf("privilege(%d)", p)
}
