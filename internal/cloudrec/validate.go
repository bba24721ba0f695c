package cloudrec

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/netguard"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/storage"
)

// allStreams is Agora's wildcard in subscription lists.
const allStreams = "#allstream#"

// Storage vendors ars ships to.
const (
	vendorAmazonS3     = 1
	vendorS3Compatible = 11
	// vendorLocal is an ars extension: files go to a directory on the
	// server.
	vendorLocal = 100
)

// awsRegions is Agora's region numbering for vendor 1.
var awsRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
	"ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2", "sa-east-1", "ca-central-1",
	"ap-south-1", "cn-north-1", "cn-northwest-1", "us-gov-west-1",
}

// checkCname refuses, with Agora's 1013, a channel name ars cannot
// record.
func checkCname(c string) *apiError {
	if c == "" || len(c) > 64 {
		return badCname("cname must be 1 to 64 bytes")
	}
	if err := storage.ValidateChannelName(c); err != nil {
		return badCname("invalid cname: " + err.Error())
	}
	return nil
}

func badCname(reason string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadCname, reason: reason}
}

// checkUID accepts what Agora accepts: a decimal integer 1..2^32-1 in a
// string.
func checkUID(s string) (uint32, *apiError) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, invalid("uid must be a string holding an integer from 1 to 4294967295")
	}
	return uint32(n), nil
}

// subscription decides which uids' audio and video are recorded.
type subscription struct {
	audio, video uidFilter
}

// uidFilter is either an allow list or a deny list ("#allstream#" in an
// allow list, or no list, allows all).
type uidFilter struct {
	allow map[uint32]bool // nil: everyone
	deny  map[uint32]bool
	none  bool // the media type is not recorded at all
}

func (f uidFilter) wants(uid uint32) bool {
	if f.none || f.deny[uid] {
		return false
	}
	return f.allow == nil || f.allow[uid]
}

func parseFilter(what string, sub, unsub []string) (uidFilter, *apiError) {
	if len(sub) > 0 && len(unsub) > 0 {
		return uidFilter{}, invalid(fmt.Sprintf("subscribe%sUids and unSubscribe%sUids cannot both be set", what, what))
	}
	list := func(in []string) (map[uint32]bool, bool, *apiError) {
		m := map[uint32]bool{}
		for _, s := range in {
			if s == allStreams {
				return nil, true, nil
			}
			uid, e := checkUID(s)
			if e != nil {
				return nil, false, invalid(fmt.Sprintf("bad uid %q in the %s list", s, strings.ToLower(what)))
			}
			m[uid] = true
		}
		return m, false, nil
	}
	var f uidFilter
	if len(sub) > 0 {
		m, all, e := list(sub)
		if e != nil {
			return f, e
		}
		if !all {
			f.allow = m
		}
	}
	if len(unsub) > 0 {
		m, all, e := list(unsub)
		if e != nil {
			return f, e
		}
		if all {
			f.none = true
		} else {
			f.deny = m
		}
	}
	return f, nil
}

// recorderSettings is a checked start request.
type recorderSettings struct {
	subs subscription
	// audioOff and videoOff follow streamTypes, which update cannot
	// change.
	audioOff, videoOff bool
	maxIdle            time.Duration
	mp4                bool
	// fmp4: individual-mode segments are fragmented MP4 with Opus audio,
	// not MPEG-TS with AAC (Config.IndividualFMP4, kept by a resume).
	fmp4 bool
	// streamMode is individual mode's output (streamMode.go): default,
	// standard (an audio+video playlist per uid besides) or original
	// (audio not transcoded).
	streamMode string
	dest       objstore.Destination
	prefix     string
	// mix is the composite of a mix-mode recording; nil in individual
	// mode.
	mix *mixSettings
	// snap is snapshotConfig (snapshots.go); nil: no snapshots.
	snap *snapSettings
}

func (s *Service) checkStart(req *startRequest, mode string) (recorderSettings, *apiError) {
	return s.checkStartFormat(req, mode, s.cfg.IndividualFMP4)
}

// checkStartFormat checks a start request for a recording whose
// individual-mode segments are fMP4 (fmp4) or MPEG-TS: a new recording
// takes the server's setting, a resumed one the format it began with.
func (s *Service) checkStartFormat(req *startRequest, mode string, fmp4 bool) (recorderSettings, *apiError) {
	out := recorderSettings{fmp4: fmp4}
	cr := req.ClientRequest
	if cr == nil {
		return out, invalid("clientRequest is required")
	}
	rc := cr.RecordingConfig
	if rc == nil {
		rc = &recordingConfig{}
	}
	if rc.ChannelType != nil && *rc.ChannelType != 0 && *rc.ChannelType != 1 {
		return out, invalid("recordingConfig.channelType must be 0 or 1")
	}
	streamTypes := 2
	if rc.StreamTypes != nil {
		streamTypes = *rc.StreamTypes
	}
	if streamTypes < 0 || streamTypes > 2 {
		return out, invalid("recordingConfig.streamTypes must be 0, 1 or 2")
	}
	out.maxIdle = 30 * time.Second
	if rc.MaxIdleTime != nil {
		if *rc.MaxIdleTime < 5 || *rc.MaxIdleTime > 2592000 {
			return out, invalid("recordingConfig.maxIdleTime must be 5 to 2592000 seconds")
		}
		out.maxIdle = time.Duration(*rc.MaxIdleTime) * time.Second
	}
	if rc.VideoStreamType != nil && *rc.VideoStreamType != 0 && *rc.VideoStreamType != 1 {
		return out, invalid("recordingConfig.videoStreamType must be 0 or 1")
	}
	if rc.SubscribeUIDGroup != nil && (*rc.SubscribeUIDGroup < 0 || *rc.SubscribeUIDGroup > 5) {
		return out, invalid("recordingConfig.subscribeUidGroup must be 0 to 5")
	}
	if rc.DecryptionMode != 0 {
		return out, invalid("recordingConfig.decryptionMode: encrypted channels are not supported by ars")
	}
	var e *apiError
	if out.subs.audio, e = parseFilter("Audio", rc.SubscribeAudioUIDs, rc.UnsubscribeAudioUIDs); e != nil {
		return out, e
	}
	if out.subs.video, e = parseFilter("Video", rc.SubscribeVideoUIDs, rc.UnsubscribeVideoUIDs); e != nil {
		return out, e
	}
	// streamTypes: 0 audio only, 1 video only, 2 both.
	out.audioOff, out.videoOff = streamTypes == 1, streamTypes == 0
	if fc := cr.RecordingFileConfig; fc != nil && len(fc.AvFileType) > 0 {
		hls := false
		for _, t := range fc.AvFileType {
			switch t {
			case "hls":
				hls = true
			case "mp4":
				out.mp4 = true
			default:
				return out, invalid(fmt.Sprintf("recordingFileConfig.avFileType: %q is not hls or mp4", t))
			}
		}
		if !hls {
			return out, invalid(`recordingFileConfig.avFileType must contain "hls"`)
		}
	}
	if out.streamMode, e = checkStreamMode(rc.StreamMode, mode, streamTypes, out.mp4, fmp4); e != nil {
		return out, e
	}
	if mode == modeMix {
		if out.mix, e = checkMix(rc, out.videoOff); e != nil {
			return out, e
		}
	}
	if out.snap, e = s.checkSnapshot(cr, mode, streamTypes); e != nil {
		return out, e
	}
	dest, prefix, e := s.checkStorage(cr.StorageConfig)
	if e != nil {
		return out, e
	}
	out.dest, out.prefix = dest, prefix
	return out, nil
}

func (s *Service) checkStorage(sc *storageConfig) (objstore.Destination, string, *apiError) {
	var d objstore.Destination
	if sc == nil || sc.Vendor == nil {
		return d, "", invalid("storageConfig.vendor is required")
	}
	if sc.Region == nil && *sc.Vendor != vendorLocal && *sc.Vendor != vendorS3Compatible {
		return d, "", invalid("storageConfig.region is required")
	}
	if !validBucket(sc.Bucket) {
		return d, "", invalid("storageConfig.bucket must be 3 to 63 lowercase letters, digits, dots or hyphens")
	}
	var parts []string
	total := 0
	for _, p := range sc.FileNamePrefix {
		if p == "" || !alnum(p) {
			return d, "", invalid("storageConfig.fileNamePrefix entries may only contain a-z, A-Z and 0-9")
		}
		parts = append(parts, p)
		total += len(p) + 1
	}
	if total > 128 {
		return d, "", invalid("storageConfig.fileNamePrefix is longer than 128 characters")
	}
	prefix := strings.Join(parts, "/")
	vendor := *sc.Vendor
	if vendor == vendorLocal || s.cfg.ForceLocal {
		return objstore.Destination{Kind: "local", Dir: s.cfg.LocalDir + "/" + sc.Bucket}, prefix, nil
	}
	if sc.AccessKey == "" || sc.SecretKey == "" {
		return d, "", invalid("storageConfig.accessKey and secretKey are required")
	}
	d = objstore.Destination{Kind: "s3", Bucket: sc.Bucket, AccessKey: sc.AccessKey, SecretKey: sc.SecretKey}
	switch vendor {
	case vendorAmazonS3:
		if *sc.Region < 0 || *sc.Region >= len(awsRegions) {
			return d, "", invalid("storageConfig.region is not an Amazon S3 region number")
		}
		d.Region = awsRegions[*sc.Region]
		d.Endpoint = "https://s3." + d.Region + ".amazonaws.com"
	case vendorS3Compatible:
		if sc.ExtensionParams == nil || sc.ExtensionParams.Endpoint == "" {
			return d, "", invalid("storageConfig.extensionParams.endpoint is required for vendor 11")
		}
		u, err := url.Parse(sc.ExtensionParams.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
			return d, "", invalid("storageConfig.extensionParams.endpoint must be an http(s) URL without a path")
		}
		d.Endpoint = u.Scheme + "://" + u.Host
		d.Region = "us-east-1"
		d.PathStyle = true
	default:
		return d, "", invalid(fmt.Sprintf("storageConfig.vendor %d is not supported by ars (1 Amazon S3, 11 S3-compatible, 100 local disk)", vendor))
	}
	return d, prefix, nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 || strings.Contains(b, "..") {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return b[0] != '-' && b[0] != '.' && b[len(b)-1] != '-' && b[len(b)-1] != '.'
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// checkEndpoint refuses, before anything is sent, an S3 endpoint whose
// host resolves to an address the outbound policy refuses (loopback,
// private, link-local, the daemon itself, ...): Agora's code 2 with the
// address and why. A name that does not resolve now is let through: the
// upload's dialer checks whatever it resolves to later, and fails the
// upload (to the backup directory) if that is refused.
func (s *Service) checkEndpoint(ctx context.Context, d objstore.Destination) *apiError {
	if s.guardURL == nil || d.Kind != "s3" {
		return nil
	}
	u, err := url.Parse(d.Endpoint)
	if err != nil {
		return invalid("storageConfig.extensionParams.endpoint must be an http(s) URL without a path")
	}
	ctx, cancel := context.WithTimeout(ctx, endpointLookupTimeout)
	defer cancel()
	err = s.guardURL.CheckURL(ctx, "storage", u)
	var fe *netguard.ForbiddenError
	switch {
	case errors.As(err, &fe):
		hint := " (an operator may allow it with ARS_OUTBOUND_ALLOW)"
		if fe.Self {
			hint = ""
		}
		return invalid(fmt.Sprintf("storage endpoint %s refused: %s%s", u.Host, strings.TrimPrefix(err.Error(), "netguard: "), hint))
	case errors.Is(err, netguard.ErrBadURL):
		return invalid("storageConfig.extensionParams.endpoint must be an http(s) URL with a host")
	case err != nil:
		s.log.Info("storage endpoint not resolvable at start; the upload will check it", "endpoint", u.Host, "error", err)
	}
	return nil
}

// endpointLookupTimeout bounds the DNS lookup of a storage endpoint in a
// start request.
const endpointLookupTimeout = 3 * time.Second
