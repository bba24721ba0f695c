package e2e

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

type startAnswer struct {
	Channel   string    `json:"channel"`
	Recording bool      `json:"recording"`
	Started   bool      `json:"started"`
	StartedAt time.Time `json:"startedAt"`
	Directory string    `json:"directory"`
}

type statusAnswer struct {
	Channel   string `json:"channel"`
	Recording bool   `json:"recording"`
	Directory string `json:"directory"`
	Users     []struct {
		UID  uint32 `json:"uid"`
		File string `json:"file"`
	} `json:"users"`
}

func (d *daemon) startRecording(channel string, uid uint32, tag string) startAnswer {
	d.t.Helper()
	var a startAnswer
	body := map[string]any{"channel": channel, "uid": uid, "key": d.key("recording", channel, uid)}
	if tag != "" {
		body["tag"] = tag
	}
	if code := d.call("POST", "/v1/recording/start", body, &a); code != http.StatusOK || !a.Recording {
		d.t.Fatalf("start: status %d %+v", code, a)
	}
	return a
}

func (d *daemon) status(channel string) statusAnswer {
	d.t.Helper()
	var s statusAnswer
	if code := d.call("GET", "/v1/recording/status?channel="+url.QueryEscape(channel), nil, &s); code != http.StatusOK {
		d.t.Fatalf("status: %d", code)
	}
	return s
}

var captureName = regexp.MustCompile(`^(\d+)_(\d{6})\.tmp$`)

// checkCapture reads a capture back and requires every stream of the
// participant, with no sequence gap.
func checkCapture(t *testing.T, path, channel string, uid uint32, ssrcs ...uint32) *storage.Summary {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("%s: mode %v, want 0640", path, fi.Mode().Perm())
	}
	if live, err := storage.IsLive(path); err != nil || live {
		t.Errorf("%s: still locked after stop (live=%v, err=%v)", path, live, err)
	}
	r, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := storage.Summarize(r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Torn {
		t.Errorf("%s: torn: %v", path, s.TornErr)
	}
	if s.Header.Channel != channel || s.Header.UID != uid || s.Header.Source != "rtp" {
		t.Errorf("%s: header %+v", path, s.Header)
	}
	for _, ssrc := range ssrcs {
		st := s.Stream(ssrc)
		if st == nil {
			t.Errorf("%s: no packets of ssrc %d", path, ssrc)
			continue
		}
		if st.Gaps != 0 || st.Duplicates != 0 {
			t.Errorf("%s: ssrc %d has %d gaps and %d duplicates over %d packets", path, ssrc, st.Gaps, st.Duplicates, st.Packets)
		}
		if st.Packets < 20 {
			t.Errorf("%s: ssrc %d has only %d packets", path, ssrc, st.Packets)
		}
	}
	return s
}

// TestRecordTwoParticipants is the daemon's main story: two participants
// join over the RTP API, ffmpeg sends real H.264 and Opus for each, a
// recording is started and stopped with recording keys, and every packet
// reads back from the layout the guide describes.
func TestRecordTwoParticipants(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	const channel = "class 7B"
	alice := d.joinRTP(channel, 1001, 0x1111, 0x2222)
	bob := d.joinRTP(channel, 1002, 0x3333, 0x4444)

	a := d.startRecording(channel, 1001, "lesson 12")
	if !a.Started {
		t.Fatal("first start did not start")
	}
	// A second start, by another participant, changes nothing.
	if again := d.startRecording(channel, 1002, "other"); again.Started || again.Directory != a.Directory {
		t.Fatalf("second start: %+v", again)
	}
	wantDir := filepath.Join(d.root, a.StartedAt.Local().Format("2006_01_02"), "class 7B_"+a.StartedAt.Local().Format("150405"))
	if a.Directory != wantDir {
		t.Fatalf("directory %q, want %q", a.Directory, wantDir)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	senders := []*exec.Cmd{
		sendMedia(ctx, alice.RTPPort, alice.VideoSSRC, alice.AudioSSRC, 4),
		sendMedia(ctx, bob.RTPPort, bob.VideoSSRC, bob.AudioSSRC, 4),
	}
	for _, s := range senders {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range senders {
		if err := s.Wait(); err != nil {
			t.Fatalf("ffmpeg: %v", err)
		}
	}
	st := d.status(channel)
	if !st.Recording || len(st.Users) != 2 || st.Users[0].File == "" || st.Users[1].File == "" {
		t.Fatalf("status while recording: %+v", st)
	}
	written := d.metric("ars_packets_written_total")

	var stop struct {
		Stopped   bool `json:"stopped"`
		Recording bool `json:"recording"`
	}
	if code := d.call("POST", "/v1/recording/stop", map[string]any{"channel": channel, "uid": "1002", "key": d.key("recording", channel, 1002)}, &stop); code != 200 || !stop.Stopped || stop.Recording {
		t.Fatalf("stop: %d %+v", code, stop)
	}
	if code := d.call("POST", "/v1/recording/stop", map[string]any{"channel": channel, "uid": 1002, "key": d.key("recording", channel, 1002)}, &stop); code != 200 || stop.Stopped {
		t.Fatalf("second stop: %d %+v", code, stop)
	}
	if st := d.status(channel); st.Recording {
		t.Fatalf("status after stop: %+v", st)
	}

	// The layout: root/yyyy_mm_dd/Channel_HHMMSS/{Metadata.txt, UID_HHMMSS.tmp}.
	fi, err := os.Stat(a.Directory)
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("recording directory: %v %v", fi, err)
	}
	md, err := os.ReadFile(filepath.Join(a.Directory, "Metadata.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantMD := "<version>1.0</version>\n<tag>lesson 12</tag>\n<channel name>class 7B</channel name>\n<error status></error status>\n"
	if string(md) != wantMD {
		t.Fatalf("Metadata.txt:\n%s\nwant:\n%s", md, wantMD)
	}
	captures, _ := filepath.Glob(filepath.Join(a.Directory, "*.tmp"))
	if len(captures) != 2 {
		t.Fatalf("captures: %v", captures)
	}
	var packets uint64
	for _, c := range captures {
		m := captureName.FindStringSubmatch(filepath.Base(c))
		if m == nil {
			t.Fatalf("capture name %s", c)
		}
		switch m[1] {
		case "1001":
			s := checkCapture(t, c, channel, 1001, alice.VideoSSRC, alice.AudioSSRC)
			packets += s.Records
		case "1002":
			s := checkCapture(t, c, channel, 1002, bob.VideoSSRC, bob.AudioSSRC)
			packets += s.Records
		default:
			t.Fatalf("capture of unknown uid: %s", c)
		}
	}
	if float64(packets) != written {
		t.Errorf("captures hold %d records, daemon counted %v written", packets, written)
	}
	checkConverted(t, captures)
}

// TestRecordingStopsWhenEveryoneLeaves: both participants leave (one by
// DELETE, one by going silent past the idle timeout) and the recording
// ends by itself.
func TestRecordingStopsWhenEveryoneLeaves(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t, "ARS_IDLE_TIMEOUT=3s")
	const channel = "support-42"
	alice := d.joinRTP(channel, 7, 0xa1, 0xa2)
	bob := d.joinRTP(channel, 8, 0xb1, 0xb2)
	a := d.startRecording(channel, 7, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, p := range []participant{alice, bob} {
		if err := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 1.5).Run(); err != nil {
			t.Fatalf("ffmpeg: %v", err)
		}
	}
	var left map[string]any
	if code := d.call("DELETE", "/v1/rtp/"+alice.ID, nil, &left); code != 200 {
		t.Fatalf("leave: %d", code)
	}
	if code := d.call("DELETE", "/v1/rtp/"+alice.ID, nil, &left); code != 404 {
		t.Fatalf("second leave: %d, want 404", code)
	}
	if st := d.status(channel); !st.Recording || len(st.Users) != 1 {
		t.Fatalf("after one leave: %+v", st)
	}
	// bob is silent now; after the idle timeout he leaves and, as the
	// last participant, ends the recording.
	waitFor(t, "recording to stop by itself", 15*time.Second, func() bool { return !d.status(channel).Recording })
	if st := d.status(channel); len(st.Users) != 0 {
		t.Fatalf("after idle: %+v", st)
	}
	captures, _ := filepath.Glob(filepath.Join(a.Directory, "*.tmp"))
	if len(captures) != 2 {
		t.Fatalf("captures: %v", captures)
	}
	for _, c := range captures {
		if live, _ := storage.IsLive(c); live {
			t.Errorf("%s still open", c)
		}
	}
	if !strings.Contains(d.out.String(), "reason=last_participant_left") {
		t.Error("log does not say the last participant left")
	}
}

// TestPacketsFromSecondSourceDropped: once an SSRC's first packet pinned
// it to ffmpeg's address, the same SSRC from another socket is dropped,
// counted, and never written.
func TestPacketsFromSecondSourceDropped(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	const channel = "pinned"
	p := d.joinRTP(channel, 5, 0xc1, 0xc2)
	a := d.startRecording(channel, 5, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sender := sendMedia(ctx, p.RTPPort, p.VideoSSRC, p.AudioSSRC, 3)
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ffmpeg's packets", 10*time.Second, func() bool { return d.metric("ars_packets_written_total") > 10 })

	intruder, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p.RTPPort})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	const forged = 50
	for i := 0; i < forged; i++ {
		pkt := make([]byte, 12, 40)
		pkt[0], pkt[1] = 0x80, 96
		binary.BigEndian.PutUint16(pkt[2:], uint16(40000+i))
		binary.BigEndian.PutUint32(pkt[8:], p.VideoSSRC)
		pkt = append(pkt, []byte("FORGED-PAYLOAD-FROM-ELSEWHERE")...)
		if _, err := intruder.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.Wait(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	waitFor(t, "drops to be counted", 5*time.Second, func() bool {
		return d.metric(`ars_packets_dropped_total{cause="wrong_source"}`) == forged
	})
	d.call("POST", "/v1/recording/stop", map[string]any{"channel": channel, "uid": 5, "key": d.key("recording", channel, 5)}, nil)
	captures, _ := filepath.Glob(filepath.Join(a.Directory, "*.tmp"))
	if len(captures) != 1 {
		t.Fatalf("captures: %v", captures)
	}
	checkCapture(t, captures[0], channel, 5, p.VideoSSRC, p.AudioSSRC)
	raw, err := os.ReadFile(captures[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "FORGED-PAYLOAD") {
		t.Fatal("a forged packet was written to the capture")
	}
}
