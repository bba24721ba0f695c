package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/testmedia"
)

// Mix-mode request bodies of the official Go client
// (github.com/AgoraIO-Community/agora-rest-client-go,
// services/cloudrecording/v1: start.go TranscodingConfig / LayoutConfig,
// updatelayout.go), field for field, with the same JSON tags and
// omitempty rules: what a user of that client sends.

type mixTranscodingConfig struct {
	Width                      int                   `json:"width,omitempty"`
	Height                     int                   `json:"height,omitempty"`
	FPS                        int                   `json:"fps,omitempty"`
	BitRate                    int                   `json:"bitrate,omitempty"`
	MaxResolutionUid           string                `json:"maxResolutionUid,omitempty"`
	MixedVideoLayout           int                   `json:"mixedVideoLayout,omitempty"`
	BackgroundColor            string                `json:"backgroundColor,omitempty"`
	BackgroundImage            string                `json:"backgroundImage,omitempty"`
	DefaultUserBackgroundImage string                `json:"defaultUserBackgroundImage,omitempty"`
	LayoutConfig               []mixLayoutConfig     `json:"layoutConfig,omitempty"`
	BackgroundConfig           []mixBackgroundConfig `json:"backgroundConfig,omitempty"`
}

type mixLayoutConfig struct {
	UID        string  `json:"uid"`
	XAxis      float32 `json:"x_axis"`
	YAxis      float32 `json:"y_axis"`
	Width      float32 `json:"width"`
	Height     float32 `json:"height"`
	Alpha      float32 `json:"alpha,omitempty"`
	RenderMode int     `json:"render_mode"`
}

type mixBackgroundConfig struct {
	UID        string `json:"uid"`
	ImageURL   string `json:"image_url"`
	RenderMode int    `json:"render_mode"`
}

type updateLayoutBody struct {
	Cname         string                     `json:"cname"`
	Uid           string                     `json:"uid"`
	ClientRequest *updateLayoutClientRequest `json:"clientRequest"`
}

type updateLayoutClientRequest struct {
	MaxResolutionUID           string                `json:"maxResolutionUid,omitempty"`
	MixedVideoLayout           int                   `json:"mixedVideoLayout"`
	BackgroundColor            string                `json:"backgroundColor,omitempty"`
	BackgroundImage            string                `json:"backgroundImage,omitempty"`
	DefaultUserBackgroundImage string                `json:"defaultUserBackgroundImage,omitempty"`
	LayoutConfig               []updateLayoutConfig  `json:"layoutConfig,omitempty"`
	BackgroundConfig           []mixBackgroundConfig `json:"backgroundConfig,omitempty"`
}

// updateLayoutConfig is updatelayout.go's UpdateLayoutConfig: unlike the
// start body's, alpha has no omitempty.
type updateLayoutConfig struct {
	UID        string  `json:"uid"`
	XAxis      float32 `json:"x_axis"`
	YAxis      float32 `json:"y_axis"`
	Width      float32 `json:"width"`
	Height     float32 `json:"height"`
	Alpha      float32 `json:"alpha"`
	RenderMode int     `json:"render_mode"`
}

// mixAnswer is a mix-mode answer (query, stop): fileList is a string
// (the playlist) with fileListMode "string", a list with "json".
type mixAnswer struct {
	errAnswer
	ResourceId     string `json:"resourceId"`
	Sid            string `json:"sid"`
	ServerResponse struct {
		Status          int             `json:"status"`
		FileListMode    string          `json:"fileListMode"`
		FileList        json.RawMessage `json:"fileList"`
		UploadingStatus string          `json:"uploadingStatus"`
	} `json:"serverResponse"`
}

// fileString is fileList as a string (fileListMode "string").
func (a mixAnswer) fileString() (string, bool) {
	var s string
	err := json.Unmarshal(a.ServerResponse.FileList, &s)
	return s, err == nil
}

// files is fileList as a list (fileListMode "json").
func (a mixAnswer) files() ([]cloudFile, bool) {
	var list []cloudFile
	err := json.Unmarshal(a.ServerResponse.FileList, &list)
	return list, err == nil
}

// playlist is the HLS playlist the answer names, in either shape.
func (a mixAnswer) playlist() string {
	if s, ok := a.fileString(); ok {
		return s
	}
	list, _ := a.files()
	for _, f := range list {
		if strings.HasSuffix(f.FileName, ".m3u8") {
			return f.FileName
		}
	}
	return ""
}

// mixDaemon is a cloud daemon storing to local disk (vendor 100 under
// localDir: the upload path to S3 is the individual-mode tests'), with
// short segments so that a few seconds make several.
func mixDaemon(t *testing.T, localDir string, extra ...string) *daemon {
	t.Helper()
	return startDaemon(t, append([]string{
		"ARS_CLOUD_CUSTOMER_ID=" + customerID, "ARS_CLOUD_CUSTOMER_SECRET=" + customerSecret,
		"ARS_CLOUD_SEGMENT_DURATION=2s", "ARS_CLOUD_LOCAL_DIR=" + localDir, "ARS_IDLE_TIMEOUT=5s",
		"ARS_KEYFRAME_INTERVAL=2s",
	}, extra...)...)
}

const mixBucket = "mixbucket"

// mixRec is one cloud mix recording driven as the official client drives
// it.
type mixRec struct {
	t        *testing.T
	d        *daemon
	c        *agoraClient
	cname    string
	localDir string
	rid, sid string
	started  time.Time // when start answered
	// mixerKilled: the test killed this recording's mixer, so its
	// failure is expected.
	mixerKilled bool
	// s3, when set, is where the recording is stored (vendor 11)
	// instead of local disk.
	s3 *versity
}

func newMixRec(t *testing.T, d *daemon, localDir, cname string) *mixRec {
	return &mixRec{t: t, d: d, c: newAgoraClient(t, d, appID), cname: cname, localDir: localDir}
}

// body is a start body for every stream of the channel (#allstream#),
// both media, to local storage with prefix "mix", with the given canvas
// and file types (HLS if none).
func (m *mixRec) body(tc *mixTranscodingConfig, fileTypes ...string) *startReqBody {
	if len(fileTypes) == 0 {
		fileTypes = []string{"hls"}
	}
	return &startReqBody{Cname: m.cname, Uid: recorderUID, ClientRequest: &startClientRequest{
		Token: m.d.key("media", m.cname, 527841),
		RecordingConfig: &recordingConfig{ChannelType: 0, StreamTypes: 2, MaxIdleTime: 30, TranscodingConfig: tc,
			SubscribeAudioUIDs: []string{"#allstream#"}, SubscribeVideoUIDs: []string{"#allstream#"}},
		RecordingFileConfig: &recordingFileConfig{AvFileType: fileTypes},
		StorageConfig:       m.storage(),
	}}
}

func (m *mixRec) storage() *storageConfig {
	if m.s3 != nil {
		return &storageConfig{Vendor: 11, Bucket: mixBucket, AccessKey: s3Access, SecretKey: s3Secret,
			FileNamePrefix: []string{"mix"}, ExtensionParams: &extensionParams{Endpoint: m.s3.endpoint()}}
	}
	return &storageConfig{Vendor: 100, Bucket: mixBucket, AccessKey: "x", SecretKey: "y", FileNamePrefix: []string{"mix"}}
}

// tryStart acquires a resource and sends body (any JSON shape) to
// mode/mix/start.
func (m *mixRec) tryStart(body any) (int, cloudAnswer) {
	m.t.Helper()
	st, acq := m.c.acquire(m.cname, recorderUID)
	if st != http.StatusOK || acq.ResourceId == "" {
		m.t.Fatalf("acquire: %d %+v", st, acq)
	}
	var a cloudAnswer
	st = m.c.do("POST", "/resourceid/"+acq.ResourceId+"/mode/mix/start", body, &a)
	if st == http.StatusOK {
		m.rid, m.sid, m.started = acq.ResourceId, a.Sid, time.Now()
	}
	return st, a
}

// start starts the recording or fails the test.
func (m *mixRec) start(body any) {
	m.t.Helper()
	if st, a := m.tryStart(body); st != http.StatusOK || a.Sid == "" || a.ResourceId != m.rid {
		m.t.Fatalf("mix start: %d %+v", st, a)
	}
}

func (m *mixRec) path(op string) string {
	return "/resourceid/" + m.rid + "/sid/" + m.sid + "/mode/mix/" + op
}

func (m *mixRec) query() (int, mixAnswer) {
	m.t.Helper()
	var a mixAnswer
	st := m.c.do("GET", m.path("query"), nil, &a)
	return st, a
}

// updateLayout sends a clientRequest (any JSON shape) to updateLayout.
func (m *mixRec) updateLayout(clientRequest any) (int, errAnswer) {
	m.t.Helper()
	var a errAnswer
	st := m.c.do("POST", m.path("updateLayout"), map[string]any{"cname": m.cname, "uid": recorderUID,
		"clientRequest": clientRequest}, &a)
	return st, a
}

// update changes the audio and video subscriptions.
func (m *mixRec) update(audio, video []string) (int, errAnswer) {
	m.t.Helper()
	cr := &updateClientRequest{StreamSubscribe: &struct {
		AudioUidList *struct {
			SubscribeAudioUIDs []string `json:"subscribeAudioUids,omitempty"`
		} `json:"audioUidList,omitempty"`
		VideoUidList *struct {
			SubscribeVideoUIDs []string `json:"subscribeVideoUids,omitempty"`
		} `json:"videoUidList,omitempty"`
	}{}}
	cr.StreamSubscribe.AudioUidList = &struct {
		SubscribeAudioUIDs []string `json:"subscribeAudioUids,omitempty"`
	}{audio}
	cr.StreamSubscribe.VideoUidList = &struct {
		SubscribeVideoUIDs []string `json:"subscribeVideoUids,omitempty"`
	}{video}
	var a errAnswer
	st := m.c.do("POST", m.path("update"), &updateReqBody{Cname: m.cname, Uid: recorderUID, ClientRequest: cr}, &a)
	return st, a
}

// stop stops the recording and checks the answer is a finished upload
// naming the channel's playlist.
func (m *mixRec) stop() mixAnswer {
	m.t.Helper()
	var a mixAnswer
	st := m.c.do("POST", m.path("stop"), &stopReqBody{Cname: m.cname, Uid: recorderUID, ClientRequest: &stopClientRequest{}}, &a)
	if st != http.StatusOK || a.ServerResponse.UploadingStatus != "uploaded" || a.playlist() != "mix/"+m.sid+"_"+m.cname+".m3u8" {
		m.t.Fatalf("mix stop: %d %+v (fileList %s)", st, a, a.ServerResponse.FileList)
	}
	// A recording of well-formed senders has no reason to lose its
	// mixer: a restart (the daemon copes, the composite has a gap) is a
	// defect of the compositor, reported here with the daemon's words.
	for _, line := range strings.Split(m.d.out.String(), "\n") {
		if !m.mixerKilled && strings.Contains(line, `msg="mixer exited"`) && strings.Contains(line, "sid="+m.sid) {
			m.t.Errorf("the mixer of %s failed during a plain recording: %s", m.sid, line)
		}
	}
	return a
}

// local is where a stored file (its fileList name) is on disk: in the
// local storage directory, or downloaded from S3 (a playlist with every
// segment it names).
func (m *mixRec) local(name string) string {
	m.t.Helper()
	if m.s3 == nil {
		return filepath.Join(m.localDir, mixBucket, filepath.FromSlash(name))
	}
	dir := m.t.TempDir()
	if strings.HasSuffix(name, ".m3u8") {
		return m.s3.download(mixBucket, name, dir)
	}
	dst := filepath.Join(dir, filepath.Base(name))
	if err := m.s3.client().FGetObject(context.Background(), mixBucket, name, dst, minioGet()); err != nil {
		m.t.Fatalf("get %s: %v", name, err)
	}
	return dst
}

// tsName is a mix TS segment's name: <sid>_<cname>_<UTC yyyyMMddHHmmssSSS>.ts.
func (m *mixRec) segmentStart(name string) (time.Time, bool) {
	base := filepath.Base(name)
	stamp, ok := strings.CutPrefix(base, m.sid+"_"+m.cname+"_")
	if !ok {
		return time.Time{}, false
	}
	stamp, ok = strings.CutSuffix(stamp, ".ts")
	if !ok || len(stamp) != 17 {
		return time.Time{}, false
	}
	at, err := time.ParseInLocation("20060102150405.000", stamp[:14]+"."+stamp[14:], time.UTC)
	return at, err == nil
}

// mixTimeline maps wall-clock instants to times in a composite playlist.
// Each segment's name carries the UTC instant of its start; in the file
// it starts where its predecessors' durations end. A restarted mixer
// leaves a gap between two segments: the instants in it are lost.
type mixTimeline struct {
	origin   time.Time
	segments []string
	seconds  float64
	segs     []tlSegment
	gaps     []float64 // seconds lost between segments (> 0.25 s)
}

type tlSegment struct {
	wall      time.Time // its start
	file, dur float64   // its start in the file, its length
}

// timeline reads the playlist at path and checks every segment is named
// as Agora names mix segments.
func (m *mixRec) timeline(path string) mixTimeline {
	m.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		m.t.Fatal(err)
	}
	var tl mixTimeline
	var durs []float64
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			f, err := strconv.ParseFloat(strings.TrimSuffix(strings.SplitN(v, ",", 2)[0], ","), 64)
			if err != nil {
				m.t.Fatalf("bad EXTINF %q", line)
			}
			durs = append(durs, f)
			tl.seconds += f
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tl.segments = append(tl.segments, line)
	}
	if len(tl.segments) == 0 || len(tl.segments) != len(durs) {
		m.t.Fatalf("%s: %d segments, %d durations:\n%s", path, len(tl.segments), len(durs), b)
	}
	file := 0.0
	for i, s := range tl.segments {
		at, ok := m.segmentStart(s)
		if !ok {
			m.t.Fatalf("segment %q is not named <sid>_<cname>_<UTC yyyyMMddHHmmssSSS>.ts", s)
		}
		if i == 0 {
			tl.origin = at
		} else {
			prev := tl.segs[i-1]
			if gap := at.Sub(prev.wall).Seconds() - prev.dur; math.Abs(gap) > 0.25 {
				tl.gaps = append(tl.gaps, gap)
				m.t.Logf("%s: %.3f s between segment %d's end and segment %d (%s)", filepath.Base(path), gap, i-1, i, s)
			}
		}
		tl.segs = append(tl.segs, tlSegment{wall: at, file: file, dur: durs[i]})
		file += durs[i]
	}
	if d := tl.origin.Sub(m.started); d < -2*time.Second || d > 3*time.Second {
		m.t.Errorf("the first segment starts at %v, %v after the start answer", tl.origin.Format(time.StampMilli), d)
	}
	return tl
}

// at is the composite (file) time of a wall-clock instant; an instant
// lost in a gap maps to the start of the segment after it.
func (tl mixTimeline) at(wall time.Time) float64 {
	for i, s := range tl.segs {
		off := wall.Sub(s.wall).Seconds()
		if i == 0 && off < 0 {
			return off // before the composite
		}
		if i+1 == len(tl.segs) || wall.Before(tl.segs[i+1].wall) {
			if off > s.dur && i+1 < len(tl.segs) {
				return tl.segs[i+1].file // lost in the gap after s
			}
			return s.file + off
		}
	}
	return 0
}

// compositeFrames decodes a composite's video at fps frames a second as
// w x h rgb24 pictures: frame i shows time i/fps.
func compositeFrames(t *testing.T, path string, w, h, fps int) [][]byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0",
		"-vf", fmt.Sprintf("fps=%d", fps), "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	n := w * h * 3
	if len(out)%n != 0 || len(out) == 0 {
		t.Fatalf("decode %s: %d bytes, not whole %dx%d frames", path, len(out), w, h)
	}
	var frames [][]byte
	for o := 0; o < len(out); o += n {
		frames = append(frames, out[o:o+n])
	}
	return frames
}

// frameAtTime is the decoded frame showing time sec (frames at fps).
func frameAtTime(t *testing.T, frames [][]byte, fps int, sec float64) []byte {
	t.Helper()
	i := int(math.Round(sec * float64(fps)))
	if i < 0 || i >= len(frames) {
		t.Fatalf("no frame at %.2f s (%d frames at %d fps)", sec, len(frames), fps)
	}
	return frames[i]
}

// rgb is a colour as the composite's pixels are compared to it.
type rgb [3]float64

var (
	red   = rgb{255, 0, 0}
	blue  = rgb{0, 0, 255}
	green = rgb{0, 255, 0}
	black = rgb{0, 0, 0}
)

// meanAt is the mean colour of the 9x9 pixels around (x, y) of a w-wide
// rgb24 frame.
func meanAt(img []byte, w, x, y int) rgb {
	var s rgb
	n := 0.0
	for yy := y - 4; yy <= y+4; yy++ {
		for xx := x - 4; xx <= x+4; xx++ {
			o := (yy*w + xx) * 3
			if o < 0 || o+3 > len(img) {
				continue
			}
			for k := range 3 {
				s[k] += float64(img[o+k])
			}
			n++
		}
	}
	for k := range 3 {
		s[k] /= n
	}
	return s
}

// near: every channel within 60 levels (H.264 4:2:0 and YUV range
// conversions move solid colours by a few levels, a wrong picture by
// more than 100).
func (c rgb) near(o rgb) bool {
	for k := range 3 {
		if math.Abs(c[k]-o[k]) > 60 {
			return false
		}
	}
	return true
}

func (c rgb) String() string { return fmt.Sprintf("(%.0f,%.0f,%.0f)", c[0], c[1], c[2]) }

// spot is a point of the canvas and the colour it must show.
type spot struct {
	name string
	x, y int
	want rgb
}

// spotsMatch reports whether every spot shows its colour, and what they
// show.
func spotsMatch(img []byte, w int, spots []spot) (bool, string) {
	ok := true
	var b strings.Builder
	for _, s := range spots {
		got := meanAt(img, w, s.x, s.y)
		if !got.near(s.want) {
			ok = false
		}
		fmt.Fprintf(&b, " %s(%d,%d)=%v want %v;", s.name, s.x, s.y, got, s.want)
	}
	return ok, b.String()
}

// checkSpots fails the test unless the frame at sec shows every spot's
// colour.
func checkSpots(t *testing.T, what string, frames [][]byte, fps, w int, sec float64, spots []spot) {
	t.Helper()
	ok, desc := spotsMatch(frameAtTime(t, frames, fps, sec), w, spots)
	if !ok {
		t.Errorf("%s at %.2f s:%s", what, sec, desc)
	} else {
		t.Logf("%s at %.2f s:%s", what, sec, desc)
	}
}

// firstMatch is the first time at or after from where the frames show
// every spot's colour (-1 if none).
func firstMatch(frames [][]byte, fps, w int, from float64, spots []spot) float64 {
	for i := max(int(math.Ceil(from*float64(fps))), 0); i < len(frames); i++ {
		if ok, _ := spotsMatch(frames[i], w, spots); ok {
			return float64(i) / float64(fps)
		}
	}
	return -1
}

// streamInfo is what ffprobe says of one stream.
type streamInfo struct {
	CodecType  string `json:"codec_type"`
	CodecName  string `json:"codec_name"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	RFrameRate string `json:"r_frame_rate"`
	SampleRate string `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

// probeStreams lists a file's streams.
func probeStreams(t *testing.T, path string) []streamInfo {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []streamInfo `json:"streams"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p.Streams
}

// checkAVStreams fails unless path holds one H.264 video of w x h and
// one AAC audio stream; it returns them.
func checkAVStreams(t *testing.T, path string, w, h int) (video, audio streamInfo) {
	t.Helper()
	var nv, na int
	for _, s := range probeStreams(t, path) {
		switch s.CodecType {
		case "video":
			video = s
			nv++
		case "audio":
			audio = s
			na++
		}
	}
	if nv != 1 || na != 1 || video.CodecName != "h264" || audio.CodecName != "aac" || video.Width != w || video.Height != h {
		t.Errorf("%s: video %+v audio %+v (%d video, %d audio streams), want one H.264 %dx%d and one AAC",
			filepath.Base(path), video, audio, nv, na, w, h)
	}
	return video, audio
}

// tone is a sine a sender sends.
type tone struct {
	name string
	hz   float64
}

// toneLevels are the band energies of tones and of an empty band (2500
// Hz) over [from, to] seconds of decoded mono 48 kHz samples.
func toneLevels(pcm []int16, from, to float64, tones ...float64) (levels []float64, empty float64) {
	d := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	for _, hz := range tones {
		levels = append(levels, testmedia.ToneEnergy(pcm, hz, d(from), d(to)))
	}
	return levels, testmedia.ToneEnergy(pcm, 2500, d(from), d(to))
}

// heard: a tone's band energy is far above the empty band's. A sine at
// the senders' level measures ~1e-2 here, AAC's noise floor in an empty
// band below 1e-6.
func heard(level, empty float64) bool { return level > 1e-4 && level > 100*empty }

// silent: a band that holds at most a trace (a tone's fade or leakage).
func silent(level float64) bool { return level < 1e-5 }

// checkTones fails unless, over [from, to] of pcm, every tone in present
// is heard and every tone in absent is not.
func checkTones(t *testing.T, what string, pcm []int16, from, to float64, present, absent []tone) {
	t.Helper()
	var hz []float64
	for _, x := range append(append([]tone{}, present...), absent...) {
		hz = append(hz, x.hz)
	}
	levels, empty := toneLevels(pcm, from, to, hz...)
	var b strings.Builder
	for i, x := range present {
		fmt.Fprintf(&b, " %s %.0f Hz %.3g;", x.name, x.hz, levels[i])
		if !heard(levels[i], empty) {
			t.Errorf("%s [%.1f, %.1f] s: %s's %.0f Hz tone not heard (%.3g, empty band %.3g)", what, from, to, x.name, x.hz, levels[i], empty)
		}
	}
	for i, x := range absent {
		l := levels[len(present)+i]
		fmt.Fprintf(&b, " %s %.0f Hz %.3g;", x.name, x.hz, l)
		if !silent(l) {
			t.Errorf("%s [%.1f, %.1f] s: %s's %.0f Hz tone is there (%.3g), it should not be", what, from, to, x.name, x.hz, l)
		}
	}
	t.Logf("%s [%.1f, %.1f] s:%s empty band %.3g", what, from, to, b.String(), empty)
}

// colourSender is one ffmpeg RTP participant sending a solid colour and
// a tone.
type colourSender struct {
	p     participant
	cmd   *exec.Cmd
	began time.Time
	done  chan error
}

// sendColourAs joins uid to the channel and starts sending colour + hz
// for seconds.
func sendColourAs(t *testing.T, ctx context.Context, d *daemon, cname string, uid uint32, colour string, hz int, seconds float64) *colourSender {
	t.Helper()
	p := d.joinRTP(cname, uid, uid<<8|1, uid<<8|2)
	s := &colourSender{p: p, cmd: sendColour(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, seconds, colour, hz), done: make(chan error, 1)}
	var errb bytes.Buffer
	s.cmd.Stderr = &errb
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.began = time.Now()
	go func() {
		err := s.cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, errb.String())
		}
		s.done <- err
	}()
	return s
}

// wait waits for the sender to finish; it fails the test if ffmpeg did.
func (s *colourSender) wait(t *testing.T) {
	t.Helper()
	if err := <-s.done; err != nil {
		t.Fatalf("ffmpeg sender uid %s: %v", s.p.ID, err)
	}
	s.done <- nil
}

// leave takes the participant out of the channel (it may have left by
// itself through its RTCP BYE).
func (s *colourSender) leave(t *testing.T, d *daemon) time.Time {
	t.Helper()
	if st := d.call("DELETE", "/v1/rtp/"+s.p.ID, nil, nil); st != http.StatusOK && st != http.StatusNotFound {
		t.Fatalf("leave %s: %d", s.p.ID, st)
	}
	return time.Now()
}

// sleepUntil sleeps until t0 + d.
func sleepUntil(t0 time.Time, d time.Duration) { time.Sleep(time.Until(t0.Add(d))) }

// colourTrack is a letter per frame for the colour at (x, y): R red, B
// blue, G green, K black, ? anything else; the test logs it so that a
// failure shows when each window changed.
func colourTrack(frames [][]byte, w, x, y int) string {
	var b strings.Builder
	for _, f := range frames {
		c := meanAt(f, w, x, y)
		switch {
		case c.near(red):
			b.WriteByte('R')
		case c.near(blue):
			b.WriteByte('B')
		case c.near(green):
			b.WriteByte('G')
		case c.near(black):
			b.WriteByte('K')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// firstChange is the time of the first frame at or after from whose
// letter in track differs from the letter at from (-1 if none).
func firstChange(track string, fps int, from float64) float64 {
	i := max(int(math.Ceil(from*float64(fps))), 0)
	if i >= len(track) {
		return -1
	}
	for j := i + 1; j < len(track); j++ {
		if track[j] != track[i] {
			return float64(j) / float64(fps)
		}
	}
	return -1
}

// toneSpan is when a tone is heard in pcm: the start of the first and
// the end of the last 100 ms window (stepped by 20 ms) whose band energy
// is far above the empty band's; ok false if never.
func toneSpan(pcm []int16, hz float64) (first, last float64, ok bool) {
	d := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	end := float64(len(pcm)) / 48000
	first, last = -1, -1
	for s := 0.0; s+0.1 <= end; s += 0.02 {
		l := testmedia.ToneEnergy(pcm, hz, d(s), d(s+0.1))
		e := testmedia.ToneEnergy(pcm, 2500, d(s), d(s+0.1))
		if heard(l, e) {
			if first < 0 {
				first = s
			}
			last = s + 0.1
		}
	}
	return first, last, first >= 0
}

// mixerOf is the pid of the daemon's ars-mixer child that writes the
// recording's files (its open files are in the work dir named by the
// sid), 0 if none.
func (m *mixRec) mixerOf() int {
	m.t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(st, ')')
		if i < 0 || !bytes.Contains(st[:i], []byte("(ars-mixer")) {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 2 || f[0] == "Z" || f[1] != strconv.Itoa(m.d.pid()) {
			continue
		}
		dir := filepath.Join("/proc", e.Name(), "fd")
		fdEnts, _ := os.ReadDir(dir)
		for _, fe := range fdEnts {
			if target, err := os.Readlink(filepath.Join(dir, fe.Name())); err == nil && strings.Contains(target, "/"+m.sid+"/") {
				return pid
			}
		}
	}
	return 0
}
