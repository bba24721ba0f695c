package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/rdk"
)

const keyUsage = `usage:
  ars key recording|media --app-id ID --app-cert CERT --channel NAME --uid N
                          [--format 004|005] [--ts UNIX] [--salt N] [--expire-at UNIX]
  ars key token --app-id ID --app-cert CERT --channel NAME --uid N
                [--ts UNIX] [--salt N] [--ttl DURATION]
  ars key inspect KEY

recording/media make a DynamicKey (default 004, the format of Agora's
recording-server guide; 005 on request). token makes an AccessToken2 (007)
with publisher privileges (join, publish audio/video/data) for --ttl.
The key is printed alone on stdout. --app-id and --app-cert default to
$ARS_APP_ID and $ARS_APP_CERTIFICATE, which keeps the certificate out of the
process list. inspect prints a key's fields; it needs no certificate.
`

// runKey implements `ars key`; args exclude "key".
func runKey(args []string, stdout, stderr io.Writer, now func() time.Time) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keyUsage)
		return fmt.Errorf("%w: ars key needs recording, media, token or inspect", errUsage)
	}
	switch args[0] {
	case "recording", "media":
		return runKeyDynamic(args[0], args[1:], stdout, stderr, now)
	case "token":
		return runKeyToken(args[1:], stdout, stderr, now)
	case "inspect":
		return runKeyInspect(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, keyUsage)
		return nil
	}
	fmt.Fprint(stderr, keyUsage)
	return fmt.Errorf("%w: unknown key command %q", errUsage, args[0])
}

// uint32Flag is a uint32 flag that remembers whether it was given, so
// defaults (now, random) apply only when absent. It takes decimal or 0x hex.
type uint32Flag struct {
	v   uint32
	set bool
}

func (f *uint32Flag) String() string { return strconv.FormatUint(uint64(f.v), 10) }

func (f *uint32Flag) Set(s string) error {
	base := 10
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = rest, 16
	}
	v, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return errors.New("want an unsigned 32-bit number")
	}
	f.v, f.set = uint32(v), true
	return nil
}

// keyFlags are the flags every generating command shares.
type keyFlags struct {
	appID, appCert, channel string
	uid, ts, salt           uint32Flag
}

func newKeyFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *keyFlags) {
	fs := flag.NewFlagSet("ars key "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	k := &keyFlags{}
	fs.StringVar(&k.appID, "app-id", "", "Agora app ID, 32 hex characters (default $ARS_APP_ID)")
	fs.StringVar(&k.appCert, "app-cert", "", "Agora app certificate (default $ARS_APP_CERTIFICATE, which keeps it out of ps)")
	fs.StringVar(&k.channel, "channel", "", "channel name")
	fs.Var(&k.uid, "uid", "user ID (0 = any uid for 007 tokens)")
	fs.Var(&k.ts, "ts", "generation time, unix seconds (default now)")
	fs.Var(&k.salt, "salt", "random salt, decimal or 0x hex (default crypto/rand)")
	return fs, k
}

func parseKeyFlags(fs *flag.FlagSet, k *keyFlags, args []string, now func() time.Time, randSalt func() (uint32, error)) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if k.appID == "" {
		k.appID = os.Getenv("ARS_APP_ID")
	}
	if k.appCert == "" {
		k.appCert = os.Getenv("ARS_APP_CERTIFICATE")
	}
	switch {
	case k.appID == "" || k.appCert == "":
		return fmt.Errorf("%w: --app-id and --app-cert (or ARS_APP_ID, ARS_APP_CERTIFICATE) are required", errUsage)
	case k.channel == "":
		return fmt.Errorf("%w: --channel is required", errUsage)
	case !k.uid.set:
		return fmt.Errorf("%w: --uid is required", errUsage)
	}
	if !k.ts.set {
		t := now().Unix()
		if t < 0 || t > math.MaxUint32 {
			return fmt.Errorf("clock out of the 32-bit unix range: %d", t)
		}
		k.ts.v = uint32(t)
	}
	if !k.salt.set {
		s, err := randSalt()
		if err != nil {
			return fmt.Errorf("random salt: %w", err)
		}
		k.salt.v = s
	}
	return nil
}

// randomUint32 is the salt of 004/005 keys (upstream takes any uint32).
func randomUint32() (uint32, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// randomTokenSalt is upstream's 007 salt range, 1..99999999.
func randomTokenSalt() (uint32, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(99999999))
	if err != nil {
		return 0, err
	}
	return uint32(n.Int64()) + 1, nil
}

func runKeyDynamic(kind string, args []string, stdout, stderr io.Writer, now func() time.Time) error {
	fs, k := newKeyFlagSet(kind, stderr)
	format := fs.String("format", rdk.Version4, "key format: 004 (DynamicKey4) or 005 (DynamicKey5)")
	var expireAt uint32Flag
	fs.Var(&expireAt, "expire-at", "unix time the user is removed from the channel (default 0 = no limit)")
	if err := parseKeyFlags(fs, k, args, now, randomUint32); err != nil {
		return err
	}
	p := rdk.DynamicKeyParams{AppID: k.appID, AppCertificate: k.appCert, Channel: k.channel,
		UID: k.uid.v, UnixTs: k.ts.v, Salt: k.salt.v, ExpiredTs: expireAt.v}
	var key string
	var err error
	switch *format {
	case rdk.Version4:
		svc := rdk.Service4Recording
		if kind == "media" {
			svc = rdk.Service4Media
		}
		key, err = rdk.BuildKey4(svc, p)
	case rdk.Version5:
		svc := rdk.Service5Recording
		if kind == "media" {
			svc = rdk.Service5Media
		}
		key, err = rdk.BuildKey5(svc, p, nil)
	default:
		return fmt.Errorf("%w: --format must be 004 or 005", errUsage)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	_, err = fmt.Fprintln(stdout, key)
	return err
}

func runKeyToken(args []string, stdout, stderr io.Writer, now func() time.Time) error {
	fs, k := newKeyFlagSet("token", stderr)
	ttl := fs.Duration("ttl", 24*time.Hour, "token lifetime; every publisher privilege gets the same")
	if err := parseKeyFlags(fs, k, args, now, randomTokenSalt); err != nil {
		return err
	}
	secs := *ttl / time.Second
	if secs < 1 || secs > math.MaxUint32 {
		return fmt.Errorf("%w: --ttl must be between 1s and %ds", errUsage, uint32(math.MaxUint32))
	}
	key, err := rdk.BuildToken7(rdk.TokenParams{AppID: k.appID, AppCertificate: k.appCert, Channel: k.channel,
		UID: k.uid.v, IssueTs: k.ts.v, Salt: k.salt.v, Expire: uint32(secs),
		Privileges: rdk.PublisherPrivileges(uint32(secs))})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	_, err = fmt.Fprintln(stdout, key)
	return err
}

func runKeyInspect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ars key inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: ars key inspect KEY", errUsage)
	}
	info, err := rdk.Inspect(strings.TrimSpace(fs.Arg(0)))
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	printInfo(stdout, info)
	return nil
}

func unixField(ts uint32) string {
	return fmt.Sprintf("%d (%s)", ts, time.Unix(int64(ts), 0).UTC().Format(time.RFC3339))
}

// printInfo writes one "name: value" line per field. Info holds no secret:
// no certificate, no signature.
func printInfo(w io.Writer, i rdk.Info) {
	fmt.Fprintf(w, "version: %s\nformat: %s\napp_id: %s\n", i.Version, i.Format, i.AppID)
	switch i.Version {
	case rdk.Version4, rdk.Version5:
		if i.Version == rdk.Version4 {
			fmt.Fprintln(w, "service: only inside the signature (ARS recording, ACS media, APSS public sharing)")
		} else {
			fmt.Fprintf(w, "service: %s\n", i.Service)
		}
		fmt.Fprintf(w, "unix_ts: %s\nsalt: %d\n", unixField(i.UnixTs), i.Salt)
		if i.ExpiredTs == 0 {
			fmt.Fprintln(w, "expired_ts: 0 (no limit)")
		} else {
			fmt.Fprintf(w, "expired_ts: %s\n", unixField(i.ExpiredTs))
		}
		if i.Version == rdk.Version4 {
			fmt.Fprintln(w, "channel, uid: only inside the signature")
		}
		keys := make([]int, 0, len(i.Extra))
		for k := range i.Extra {
			keys = append(keys, int(k))
		}
		sort.Ints(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "extra %d: %q\n", k, i.Extra[uint16(k)])
		}
	case rdk.Version7:
		fmt.Fprintf(w, "issue_ts: %s\nexpire: %ds (until %s)\nsalt: %d\n", unixField(i.IssueTs), i.Expire,
			time.Unix(int64(i.IssueTs)+int64(i.Expire), 0).UTC().Format(time.RFC3339), i.Salt)
		for _, s := range i.Services {
			fmt.Fprintf(w, "service: %s (%d)\n", rdk.ServiceName(s.Type), s.Type)
			if s.Type == rdk.ServiceRTC || s.Channel != "" {
				fmt.Fprintf(w, "  channel: %q\n", s.Channel)
			}
			if s.Type == rdk.ServiceRTC && s.UID == "" {
				fmt.Fprintln(w, "  uid: any (0)")
			} else if s.UID != "" {
				fmt.Fprintf(w, "  uid: %q\n", s.UID)
			}
			privs := make([]int, 0, len(s.Privileges))
			for p := range s.Privileges {
				privs = append(privs, int(p))
			}
			sort.Ints(privs)
			for _, p := range privs {
				name := fmt.Sprintf("privilege(%d)", p)
				if s.Type == rdk.ServiceRTC {
					name = rdk.PrivilegeName(uint16(p))
				}
				if exp := s.Privileges[uint16(p)]; exp == 0 {
					fmt.Fprintf(w, "  %s: no own limit\n", name)
				} else {
					fmt.Fprintf(w, "  %s: %ds\n", name, exp)
				}
			}
		}
		if i.Partial {
			fmt.Fprintln(w, "note: stopped at a service type this version cannot parse")
		}
	}
}
