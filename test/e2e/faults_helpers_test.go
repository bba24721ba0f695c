package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// signal sends sig to the daemon.
func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitExit waits for the daemon to exit and returns its exit error. After
// it, the cleanup's stop does nothing.
func (d *daemon) waitExit(timeout time.Duration) (error, bool) {
	select {
	case err := <-d.exited:
		d.exited <- err
		return err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// kill9 kills the daemon without letting it finalise anything and returns
// when it is gone.
func (d *daemon) kill9() time.Time {
	d.t.Helper()
	at := time.Now()
	d.signal(syscall.SIGKILL)
	if _, ok := d.waitExit(10 * time.Second); !ok {
		d.t.Fatal("daemon survived SIGKILL")
	}
	return at
}

// healthy reports whether /healthz answers 200 within a second.
func (d *daemon) healthy() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(d.base + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// fds lists what the daemon's file descriptors point at.
func fds(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed between the listing and the readlink
		}
		out = append(out, target)
	}
	return out
}

// fdsUnder counts the daemon's descriptors open on files under root,
// but for the state store, which the daemon holds open from start to stop.
func fdsUnder(t *testing.T, pid int, root string) []string {
	t.Helper()
	var out []string
	for _, f := range fds(t, pid) {
		if strings.HasPrefix(f, root+"/") && !strings.HasSuffix(f, "/.ars/state.db") {
			out = append(out, f)
		}
	}
	return out
}

// findFiles lists the files under root whose names end in suffix.
func findFiles(t *testing.T, root, suffix string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), suffix) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mp4Duration is the container duration ffprobe reports.
func mp4Duration(t *testing.T, path string) time.Duration {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: duration %q", path, out)
	}
	return time.Duration(sec * float64(time.Second))
}

// decodesCleanly runs the check ffprobe alone misses on truncated MP4s.
func decodesCleanly(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("%s does not decode cleanly: %v\n%s", path, err, out)
	}
}

// transcoder runs the built transcoder binary and returns its output.
func transcoder(t *testing.T, args ...string) (string, error) {
	t.Helper()
	_, bin := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// readMetadata reads a recording's Metadata.txt.
func readMetadata(t *testing.T, dir string) storage.Metadata {
	t.Helper()
	md, err := storage.ReadMetadata(dir)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// summarize reads a capture without judging it.
func summarize(t *testing.T, path string) *storage.Summary {
	t.Helper()
	r, err := storage.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer r.Close()
	s, err := storage.Summarize(r)
	if err != nil {
		t.Fatalf("summarize %s: %v", path, err)
	}
	return s
}

// mintKey makes a 004 key in-process, as a customer's key server would,
// for tests that need many keys or keys with chosen timestamps.
func mintKey(svc rdk.Service4, channel string, uid uint32, unixTs, expiredTs uint32) string {
	k, err := rdk.BuildKey4(svc, rdk.DynamicKeyParams{
		AppID: appID, AppCertificate: appCert, Channel: channel, UID: uid,
		UnixTs: unixTs, Salt: rand.Uint32(), ExpiredTs: expiredTs,
	})
	if err != nil {
		panic(err) // the credentials are constants
	}
	return k
}

func nowKey(svc rdk.Service4, channel string, uid uint32) string {
	return mintKey(svc, channel, uid, uint32(time.Now().Unix()), 0)
}

// rtpPacket builds an RTP packet with a 12-byte header.
func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12, 12+len(payload))
	b[0], b[1] = 0x80, pt&0x7f
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return append(b, payload...)
}

// mediaSender replays real H.264 and Opus RTP (encoded by ffmpeg through
// testmedia) under chosen SSRCs from its own UDP socket, paced by the
// packets' arrival times divided by speed.
type mediaSender struct {
	conn    *net.UDPConn
	streams []testmedia.Stream
}

func newMediaSender(t *testing.T, port int, media []testmedia.Stream, videoSSRC, audioSSRC uint32) *mediaSender {
	t.Helper()
	s, err := dialMedia(port, media, videoSSRC, audioSSRC)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dialMedia is newMediaSender for goroutines other than the test's.
func dialMedia(port int, media []testmedia.Stream, videoSSRC, audioSSRC uint32) (*mediaSender, error) {
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return nil, err
	}
	s := &mediaSender{conn: conn}
	for _, st := range media {
		ssrc := audioSSRC
		if st.Info.Kind == storage.KindVideo {
			ssrc = videoSSRC
		}
		s.streams = append(s.streams, testmedia.SetSSRC(st, ssrc))
	}
	return s, nil
}

// send sends the packets in arrival order, up to media time limit (0: all),
// stopping early when ctx ends.
func (s *mediaSender) send(ctx context.Context, speed float64, limit time.Duration) error {
	start := time.Now()
	for _, p := range testmedia.Merge(s.streams...) {
		if limit > 0 && p.At > limit {
			return nil
		}
		due := start.Add(time.Duration(float64(p.At) / speed))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := s.conn.Write(p.Data); err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // an ICMP error from an earlier datagram
			}
			return err
		}
	}
	return nil
}

func (s *mediaSender) close() { _ = s.conn.Close() }

// joinMedia joins uid with the streams testmedia encodes.
func (d *daemon) joinMedia(channel string, uid, videoSSRC, audioSSRC uint32) participant {
	d.t.Helper()
	var p participant
	code := d.call("POST", "/v1/rtp/join", map[string]any{
		"channel": channel, "uid": uid, "key": nowKey(rdk.Service4Media, channel, uid),
		"streams": []map[string]any{
			{"ssrc": videoSSRC, "payloadType": testmedia.VideoPayloadType, "codec": "H264", "clockRate": 90000, "fmtp": "packetization-mode=1"},
			{"ssrc": audioSSRC, "payloadType": testmedia.AudioPayloadType, "codec": "opus", "clockRate": 48000, "channels": 2},
		},
	}, &p)
	if code != http.StatusCreated || p.ID == "" || p.RTPPort == 0 {
		d.t.Fatalf("join uid %d: status %d %+v", uid, code, p)
	}
	p.VideoSSRC, p.AudioSSRC = videoSSRC, audioSSRC
	return p
}

// stopRecording stops a channel's recording with a fresh key.
func (d *daemon) stopRecording(channel string, uid uint32) {
	d.t.Helper()
	var out map[string]any
	if code := d.call("POST", "/v1/recording/stop", map[string]any{"channel": channel, "uid": uid, "key": nowKey(rdk.Service4Recording, channel, uid)}, &out); code != http.StatusOK {
		d.t.Fatalf("stop %s: %d %v", channel, code, out)
	}
}
