package rdk

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxSkew is how far a DynamicKey's unixTs (or a 007 issueTs in the
// future) may be from now. Agora's guide makes DynamicKeys usable for five
// minutes.
const DefaultMaxSkew = 5 * time.Minute

// maxKeyLen bounds the input before any decoding.
const maxKeyLen = 16 << 10

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock sets the time source (tests pin it).
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithMaxSkew sets the accepted distance between now and a DynamicKey's
// unixTs.
func WithMaxSkew(d time.Duration) Option { return func(v *Verifier) { v.maxSkew = d } }

// Verifier checks keys against one app ID and certificate. It is immutable
// and safe for concurrent use.
type Verifier struct {
	appID   string
	appCert string
	now     func() time.Time
	maxSkew time.Duration
}

// NewVerifier returns a Verifier for the app. Both values must be 32 hex
// characters, as Agora issues them.
func NewVerifier(appID, appCert string, opts ...Option) (*Verifier, error) {
	if err := checkCredentials(appID, appCert); err != nil {
		return nil, err
	}
	v := &Verifier{appID: appID, appCert: appCert, now: time.Now, maxSkew: DefaultMaxSkew}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// VerifyRecording accepts a DynamicKey4 "ARS" key or a DynamicKey5 service 2
// key made for this channel and uid.
func (v *Verifier) VerifyRecording(key, channel string, uid uint32) error {
	return v.verify(key, channel, uid, Service4Recording, Service5Recording, false)
}

// VerifyMedia accepts a DynamicKey4 "ACS" key, a DynamicKey5 service 1 key,
// or an AccessToken2 whose RTC service names this channel and uid (or any
// uid) and grants the join-channel privilege.
func (v *Verifier) VerifyMedia(key, channel string, uid uint32) error {
	return v.verify(key, channel, uid, Service4Media, Service5Media, true)
}

func (v *Verifier) verify(key, channel string, uid uint32, s4 Service4, s5 Service5, allow7 bool) error {
	if len(key) > maxKeyLen {
		return fmt.Errorf("%w: key longer than %d bytes", ErrMalformed, maxKeyLen)
	}
	switch {
	case strings.HasPrefix(key, Version4):
		return v.verify4(key, channel, uid, s4)
	case strings.HasPrefix(key, Version5):
		return v.verify5(key, channel, uid, s5)
	case strings.HasPrefix(key, Version7):
		return v.verify7(key, channel, uid, allow7)
	}
	return fmt.Errorf("%w: unsupported key version", ErrMalformed)
}

func (v *Verifier) verify4(key, channel string, uid uint32, want Service4) error {
	k, err := ParseKey4(key)
	if err != nil {
		return err
	}
	if !strings.EqualFold(k.AppID, v.appID) {
		return ErrWrongApp
	}
	if !k.Verify(want, v.appCert, channel, uid) {
		// The service is only inside the signature; a few extra HMACs tell
		// an authentic key of another service from a forged one.
		for _, other := range service4All {
			if other != want && k.Verify(other, v.appCert, channel, uid) {
				return fmt.Errorf("%w: 004 %s key, want %s", ErrWrongService, other, want)
			}
		}
		return fmt.Errorf("%w: 004 key (or made for another channel or uid)", ErrBadSignature)
	}
	return v.checkDynamicTimes(k.UnixTs, k.ExpiredTs)
}

func (v *Verifier) verify5(key, channel string, uid uint32, want Service5) error {
	k, err := ParseKey5(key)
	if err != nil {
		return err
	}
	if !strings.EqualFold(k.AppID, v.appID) {
		return ErrWrongApp
	}
	if !k.Verify(v.appCert, channel, uid) {
		return fmt.Errorf("%w: 005 key (or made for another channel or uid)", ErrBadSignature)
	}
	if k.Service != want {
		return fmt.Errorf("%w: 005 service %d, want %d", ErrWrongService, k.Service, want)
	}
	return v.checkDynamicTimes(k.UnixTs, k.ExpiredTs)
}

func (v *Verifier) checkDynamicTimes(unixTs, expiredTs uint32) error {
	now := v.now()
	ts := time.Unix(int64(unixTs), 0)
	if now.Sub(ts) > v.maxSkew {
		return fmt.Errorf("%w: key generated more than %s ago", ErrExpired, v.maxSkew)
	}
	if ts.Sub(now) > v.maxSkew {
		return fmt.Errorf("%w: key generated more than %s in the future", ErrExpired, v.maxSkew)
	}
	if expiredTs != 0 && !now.Before(time.Unix(int64(expiredTs), 0)) {
		return fmt.Errorf("%w: key expiredTs has passed", ErrExpired)
	}
	return nil
}

func (v *Verifier) verify7(key, channel string, uid uint32, allowed bool) error {
	t, err := ParseToken7(key)
	if err != nil {
		return err
	}
	if !strings.EqualFold(t.AppID, v.appID) {
		return ErrWrongApp
	}
	if !t.Verify(v.appCert) {
		return fmt.Errorf("%w: 007 token", ErrBadSignature)
	}
	if !allowed {
		return fmt.Errorf("%w: 007 token is not a recording key", ErrWrongService)
	}
	rtc := t.RTC()
	if len(rtc) == 0 {
		return fmt.Errorf("%w: 007 token has no RTC service", ErrWrongService)
	}
	uidStr := strconv.FormatUint(uint64(uid), 10)
	var match *TokenService
	for i := range rtc {
		// An empty token uid is Agora's "any uid may join".
		if rtc[i].Channel == channel && (rtc[i].UID == "" || rtc[i].UID == uidStr) {
			match = &rtc[i]
			break
		}
	}
	if match == nil {
		return ErrWrongChannelOrUID
	}
	join, ok := match.Privileges[PrivilegeJoinChannel]
	if !ok {
		return fmt.Errorf("%w: no join-channel privilege", ErrNoPrivilege)
	}

	now := v.now()
	issued := time.Unix(int64(t.IssueTs), 0)
	if issued.Sub(now) > v.maxSkew {
		return fmt.Errorf("%w: token issued more than %s in the future", ErrExpired, v.maxSkew)
	}
	// Token expire 0 means expired at issue: upstream defines it as the whole
	// token's lifetime, with no "unlimited" value.
	if !now.Before(issued.Add(time.Duration(t.Expire) * time.Second)) {
		return fmt.Errorf("%w: token lifetime has passed", ErrExpired)
	}
	// Privilege expire 0 means no privilege-specific limit: upstream's
	// builders default privilegeExpire to 0 for a privilege bounded only by
	// the token lifetime.
	if join != 0 && !now.Before(issued.Add(time.Duration(join)*time.Second)) {
		return fmt.Errorf("%w: join-channel privilege has expired", ErrExpired)
	}
	return nil
}
