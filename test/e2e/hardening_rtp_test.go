package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/testmedia"
)

// Issue 12, findings 5-8: the plain-RTP packet path on a hostile network.

// clientFrom is an HTTP client whose connections come from the loopback
// address from, standing for another client host.
func clientFrom(from string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}, Timeout: 10 * time.Second}
}

// joinAs posts a join of the testmedia streams from the loopback address
// from, naming source when it is not empty; it returns the status, the
// participant and the raw answer.
func (d *daemon) joinAs(from, channel string, uid, videoSSRC, audioSSRC uint32, source string) (int, participant, map[string]any) {
	d.t.Helper()
	body := map[string]any{
		"channel": channel, "uid": uid, "key": nowKey(rdk.Service4Media, channel, uid),
		"streams": []map[string]any{
			{"ssrc": videoSSRC, "payloadType": testmedia.VideoPayloadType, "codec": "H264", "clockRate": 90000, "fmtp": "packetization-mode=1"},
			{"ssrc": audioSSRC, "payloadType": testmedia.AudioPayloadType, "codec": "opus", "clockRate": 48000, "channels": 2},
		},
	}
	if source != "" {
		body["source"] = source
	}
	b, _ := json.Marshal(body)
	resp, err := clientFrom(from).Post(d.base+"/v1/rtp/join", "application/json", bytes.NewReader(b))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p participant
	var out map[string]any
	_ = json.Unmarshal(raw, &p)
	_ = json.Unmarshal(raw, &out)
	p.VideoSSRC, p.AudioSSRC = videoSSRC, audioSSRC
	if resp.Header.Get("Retry-After") != "" {
		out["retryAfter"] = resp.Header.Get("Retry-After")
	}
	return resp.StatusCode, p, out
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// sendPackets sends pkts from conn, paced by their arrival times divided
// by speed.
func sendPackets(t *testing.T, conn *net.UDPConn, pkts []testmedia.Packet, speed float64) {
	t.Helper()
	if len(pkts) == 0 {
		return
	}
	start, base := time.Now(), pkts[0].At
	for _, p := range pkts {
		if d := time.Until(start.Add(time.Duration(float64(p.At-base) / speed))); d > 0 {
			time.Sleep(d)
		}
		if _, err := conn.Write(p.Data); err != nil {
			t.Fatal(err)
		}
	}
}

// media4s is 4 s of real H.264 and Opus RTP under the given SSRCs, keyframe
// every 2 s.
func media4s(t *testing.T, videoSSRC, audioSSRC uint32) (video, audio testmedia.Stream) {
	t.Helper()
	m := testmedia.Generate(t, testmedia.Options{Duration: 4 * time.Second})
	return testmedia.SetSSRC(m[0], videoSSRC), testmedia.SetSSRC(m[1], audioSSRC)
}

// onlyCapture stops the channel's recording and returns its one capture.
func (d *daemon) onlyCapture(t *testing.T, channel string, uid uint32, dir string) string {
	t.Helper()
	d.stopRecording(channel, uid)
	captures, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(captures) != 1 {
		t.Fatalf("captures in %s: %v", dir, captures)
	}
	return captures[0]
}

// pliWatch counts the RTCP PLIs for ssrc arriving on conn, with times.
type pliWatch struct {
	mu    sync.Mutex
	times []time.Time
}

func watchPLIs(conn *net.UDPConn, ssrc uint32) *pliWatch {
	w := &pliWatch{}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // an ICMP error from an earlier datagram
			}
			if n == 12 && buf[0] == 0x81 && buf[1] == 206 && binary.BigEndian.Uint32(buf[8:12]) == ssrc {
				w.mu.Lock()
				w.times = append(w.times, time.Now())
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *pliWatch) count(after time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, t := range w.times {
		if t.After(after) {
			n++
		}
	}
	return n
}

// TestLateAddressSenderGetsPLI: the recording starts before the sender's
// first packet; the sender (real H.264 from ffmpeg, starting mid-GOP) is
// asked for a keyframe after its first packet, again while none comes, and
// no more once it sends one.
func TestLateAddressSenderGetsPLI(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	p := d.joinMedia("late", 61, 0x6101, 0x6102)
	d.startRecording("late", 61, "")
	video, _ := media4s(t, p.VideoSSRC, p.AudioSSRC)
	kf := video.KeyframeIndexes()
	if len(kf) < 2 {
		t.Fatalf("keyframes at %v", kf)
	}
	ts := func(i int) uint32 { return binary.BigEndian.Uint32(video.Packets[i].Data[4:8]) }
	start := kf[0]
	for start < kf[1] && ts(start) == ts(kf[0]) {
		start++ // the first frame after the first keyframe: mid-GOP
	}
	conn := dialFrom(t, nil, p.RTPPort)
	w := watchPLIs(conn, p.VideoSSRC)
	began := time.Now()
	sendPackets(t, conn, video.Packets[start:kf[1]], 1)
	if n := w.count(began); n < 2 {
		t.Fatalf("%d PLIs while %v of video without a keyframe went out, want repeated ones", n, video.Packets[kf[1]].At-video.Packets[start].At)
	}
	keyAt := time.Now()
	sendPackets(t, conn, video.Packets[kf[1]:], 1) // a keyframe, then its GOP
	time.Sleep(500 * time.Millisecond)
	// One request may have been on its way as the keyframe went out.
	if n := w.count(keyAt.Add(300 * time.Millisecond)); n != 0 {
		t.Fatalf("%d PLIs after the keyframe", n)
	}
	if v := d.metric("ars_rtp_pli_sent_total"); v < 2 {
		t.Fatalf("ars_rtp_pli_sent_total %v", v)
	}
}

// TestPortChangeAfterSilenceKeepsRecording: a sender moves to a new source
// port on the same IP after 1.5 s of silence (a NAT rebinding): the
// capture has the packets of both; a sender on another IP is still
// dropped as wrong_source.
func TestPortChangeAfterSilenceKeepsRecording(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	p := d.joinMedia("rebind", 62, 0x6201, 0x6202)
	a := d.startRecording("rebind", 62, "")
	video, audio := media4s(t, p.VideoSSRC, p.AudioSSRC)
	all := testmedia.Merge(video, audio)
	half := 0
	for half < len(all) && all[half].At < 2*time.Second {
		half++
	}
	sendPackets(t, dialFrom(t, nil, p.RTPPort), all[:half], 2)
	time.Sleep(1500 * time.Millisecond)
	sendPackets(t, dialFrom(t, nil, p.RTPPort), all[half:], 2) // a new port, same IP
	waitFor(t, "every packet written", 10*time.Second, func() bool {
		return d.metric("ars_packets_written_total") >= float64(len(all))
	})
	time.Sleep(1200 * time.Millisecond)
	stranger := dialFrom(t, net.IPv4(127, 0, 0, 2), p.RTPPort)
	for i := 0; i < 20; i++ {
		if _, err := stranger.Write(rtpPacket(testmedia.VideoPayloadType, uint16(50000+i), 0, p.VideoSSRC, evil)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the stranger's packets dropped", 5*time.Second, func() bool {
		return dropped(d.metrics(), "wrong_source") == 20
	})
	if v := d.metric("ars_rtp_rebinds_total"); v < 2 {
		t.Fatalf("ars_rtp_rebinds_total %v, want video and audio rebound", v)
	}
	s := summarize(t, d.onlyCapture(t, "rebind", 62, a.Directory))
	for _, st := range []testmedia.Stream{video, audio} {
		if got := s.Stream(st.Info.SSRC); got == nil || got.Packets != uint64(len(st.Packets)) {
			t.Fatalf("ssrc %#x: %+v, want %d packets", st.Info.SSRC, got, len(st.Packets))
		}
	}
}

// TestForeignFirstSenderDoesNotTakeStream: the join names its sender's
// IP; a stranger on another IP sends the SSRCs first and is dropped; the
// legitimate sender then records fully.
func TestForeignFirstSenderDoesNotTakeStream(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	code, p, out := d.joinAs("127.0.0.1", "bound", 63, 0x6301, 0x6302, "127.0.0.2")
	if code != http.StatusCreated || out["source"] != "127.0.0.2" {
		t.Fatalf("join: %d %v", code, out)
	}
	a := d.startRecording("bound", 63, "")
	stranger := dialFrom(t, net.IPv4(127, 0, 0, 3), p.RTPPort)
	for i := 0; i < 30; i++ {
		ssrc := p.VideoSSRC
		if i%2 == 1 {
			ssrc = p.AudioSSRC
		}
		if _, err := stranger.Write(rtpPacket(testmedia.VideoPayloadType, uint16(i), 0, ssrc, evil)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the stranger's packets dropped", 5*time.Second, func() bool {
		return dropped(d.metrics(), "wrong_source") == 30
	})
	video, audio := media4s(t, p.VideoSSRC, p.AudioSSRC)
	sendPackets(t, dialFrom(t, net.IPv4(127, 0, 0, 2), p.RTPPort), testmedia.Merge(video, audio), 4)
	waitFor(t, "every packet written", 10*time.Second, func() bool {
		return d.metric("ars_packets_written_total") >= float64(len(video.Packets)+len(audio.Packets))
	})
	file := d.onlyCapture(t, "bound", 63, a.Directory)
	s := summarize(t, file)
	for _, st := range []testmedia.Stream{video, audio} {
		if got := s.Stream(st.Info.SSRC); got == nil || got.Packets != uint64(len(st.Packets)) || got.Gaps != 0 {
			t.Fatalf("ssrc %#x: %+v, want %d packets", st.Info.SSRC, got, len(st.Packets))
		}
	}
	if raw, _ := os.ReadFile(file); bytes.Contains(raw, evil) {
		t.Fatal("a stranger's packet was recorded")
	}
}

// TestOneChannelCannotBlockAnothersJoin: a client declares channel b's
// SSRCs on every port (joining other channels) and again in its own
// channel; b's join, bound to its sender's IP, still succeeds and records,
// and the squatter's packets do not reach it.
func TestOneChannelCannotBlockAnothersJoin(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	const vs, as = 0x6401, 0x6402
	ports := map[int]bool{}
	for i := 1; ; i++ {
		code, p, out := d.joinAs("127.0.0.1", "squat"+string(rune('0'+i)), 1, vs, as, "")
		if code == http.StatusConflict && errCode(out) == "ssrc_in_use" {
			break
		}
		if code != http.StatusCreated || i > 10 {
			t.Fatalf("squatting join %d: %d %v", i, code, out)
		}
		ports[p.RTPPort] = true
	}
	if len(ports) != 4 {
		t.Fatalf("squatter holds ports %v, want all 4", ports)
	}
	if code, _, out := d.joinAs("127.0.0.1", "squat1", 2, vs, as, "127.0.0.9"); code != http.StatusConflict || errCode(out) != "ssrc_in_use" {
		t.Fatalf("a second use of the ssrcs within one channel: %d %v", code, out)
	}
	code, p, out := d.joinAs("127.0.0.1", "victim", 64, vs, as, "127.0.0.2")
	if code != http.StatusCreated {
		t.Fatalf("victim's join: %d %v", code, out)
	}
	a := d.startRecording("victim", 64, "")
	squatter := dialFrom(t, nil, p.RTPPort)
	for i := 0; i < 20; i++ {
		if _, err := squatter.Write(rtpPacket(testmedia.VideoPayloadType, uint16(60000+i), 0, vs, evil)); err != nil {
			t.Fatal(err)
		}
	}
	video, audio := media4s(t, vs, as)
	sendPackets(t, dialFrom(t, net.IPv4(127, 0, 0, 2), p.RTPPort), testmedia.Merge(video, audio), 4)
	waitFor(t, "every packet written", 10*time.Second, func() bool {
		return d.metric("ars_packets_written_total") >= float64(len(video.Packets)+len(audio.Packets))
	})
	file := d.onlyCapture(t, "victim", 64, a.Directory)
	s := summarize(t, file)
	for _, st := range []testmedia.Stream{video, audio} {
		if got := s.Stream(st.Info.SSRC); got == nil || got.Packets != uint64(len(st.Packets)) {
			t.Fatalf("ssrc %#x: %+v, want %d packets", st.Info.SSRC, got, len(st.Packets))
		}
	}
	if raw, _ := os.ReadFile(file); bytes.Contains(raw, evil) {
		t.Fatal("the squatter's packets reached the victim's capture")
	}
}

// TestJoinCaps: a join past each cap gets its error and is counted; a
// leave gives the capacity back.
func TestJoinCaps(t *testing.T) {
	d := startDaemon(t, "ARS_MAX_JOINS_PER_IP=2", "ARS_MAX_PARTICIPANTS=3", "ARS_MAX_CHANNEL_PARTICIPANTS=2", "ARS_MAX_CHANNELS=3")
	ssrc := uint32(0x7000)
	join := func(from, channel string, uid uint32) (int, participant, map[string]any) {
		ssrc += 2
		return d.joinAs(from, channel, uid, ssrc, ssrc+1, "")
	}
	expect := func(what string, code int, out map[string]any, wantCode int, wantErr string) {
		t.Helper()
		if code != wantCode || errCode(out) != wantErr {
			t.Fatalf("%s: %d %v, want %d %q", what, code, out, wantCode, wantErr)
		}
	}
	code, first, out := join("127.0.0.1", "c1", 1)
	expect("first join", code, out, http.StatusCreated, "")
	code, _, out = join("127.0.0.1", "c1", 2)
	expect("second join", code, out, http.StatusCreated, "")
	code, _, out = join("127.0.0.1", "c2", 1)
	expect("third join from one address", code, out, http.StatusTooManyRequests, "too_many_joins")
	if out["retryAfter"] == nil {
		t.Fatal("429 without Retry-After")
	}
	code, _, out = join("127.0.0.2", "c1", 3)
	expect("join of a full channel", code, out, http.StatusConflict, "channel_full")
	code, _, out = join("127.0.0.2", "c2", 1)
	expect("join from another address", code, out, http.StatusCreated, "")
	code, _, out = join("127.0.0.2", "c3", 1)
	expect("join past the server's participants", code, out, http.StatusServiceUnavailable, "server_full")
	d.startRecording("c3", 1, "") // the third channel
	var st map[string]any
	if code := d.call("POST", "/v1/recording/start", map[string]any{"channel": "c4", "uid": 1, "key": nowKey(rdk.Service4Recording, "c4", 1)}, &st); code != http.StatusServiceUnavailable || errCode(st) != "too_many_channels" {
		t.Fatalf("a fourth channel: %d %v", code, st)
	}
	if code := d.call("DELETE", "/v1/rtp/"+first.ID, nil, nil); code != http.StatusOK {
		t.Fatalf("leave: %d", code)
	}
	code, _, out = join("127.0.0.1", "c2", 2)
	expect("join after a leave", code, out, http.StatusCreated, "")
	m := d.metrics()
	for _, r := range []string{"per_ip", "channel_full", "participants", "channels"} {
		if m[`ars_joins_refused_total{reason="`+r+`"}`] != 1 {
			t.Errorf("refusals %s: %v", r, m[`ars_joins_refused_total{reason="`+r+`"}`])
		}
	}
}

// TestFirstPacketsWaitForCaptureOpen: forty participants of twenty
// recording channels start sending at the same instant. Their capture
// files are opened off the ports' readers while the first packets wait
// (ars_capture_queued_packets_total counts them), and every packet ends
// up in its capture, in order.
func TestFirstPacketsWaitForCaptureOpen(t *testing.T) {
	requireFFmpeg(t)
	d := startDaemon(t)
	base := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second})
	type sender struct {
		p            participant
		dir, channel string
		uid          uint32
		pkts         []testmedia.Packet
		video, audio testmedia.Stream
	}
	var senders []*sender
	for c := 0; c < 20; c++ {
		channel := "burst" + string(rune('a'+c))
		var list []*sender
		for u := uint32(1); u <= 2; u++ {
			vs, as := uint32(0x8000+c*8)+u*2, uint32(0x8000+c*8)+u*2+1
			s := &sender{p: d.joinMedia(channel, u, vs, as), channel: channel, uid: u,
				video: testmedia.SetSSRC(base[0], vs), audio: testmedia.SetSSRC(base[1], as)}
			s.pkts = testmedia.Merge(s.video, s.audio)
			list = append(list, s)
		}
		a := d.startRecording(channel, 1, "")
		for _, s := range list {
			s.dir = a.Directory
		}
		senders = append(senders, list...)
	}
	conns := make([]*net.UDPConn, len(senders))
	total := 0
	for i, s := range senders {
		conns[i] = dialFrom(t, nil, s.p.RTPPort)
		total += len(s.pkts)
	}
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			start, first := time.Now(), s.pkts[0].At
			for _, p := range s.pkts {
				if d := time.Until(start.Add((p.At - first) / 2)); d > 0 {
					time.Sleep(d)
				}
				_, _ = conns[i].Write(p.Data)
			}
		}()
	}
	close(begin)
	wg.Wait()
	waitFor(t, "every packet written", 15*time.Second, func() bool {
		return d.metric("ars_packets_written_total") >= float64(total)
	})
	m := d.metrics()
	if m["ars_capture_queued_packets_total"] == 0 {
		t.Fatal("no packet waited for its capture file: the files were opened on the packet path")
	}
	if q := dropped(m, "capture_queue_full"); q != 0 {
		t.Fatalf("%v packets dropped from full queues", q)
	}
	for _, s := range senders {
		if s.uid == 1 {
			d.stopRecording(s.channel, 1)
		}
	}
	for _, s := range senders {
		var file string
		all, _ := filepath.Glob(filepath.Join(s.dir, "*.tmp"))
		for _, f := range all {
			if summarize(t, f).Header.UID == s.uid {
				file = f
			}
		}
		if file == "" {
			t.Fatalf("%s uid %d: no capture among %v", s.channel, s.uid, all)
		}
		sum := summarize(t, file)
		for _, st := range []testmedia.Stream{s.video, s.audio} {
			if got := sum.Stream(st.Info.SSRC); got == nil || got.Packets != uint64(len(st.Packets)) || got.Gaps != 0 {
				t.Fatalf("%s uid %d ssrc %#x: %+v, want %d packets", s.channel, s.uid, st.Info.SSRC, got, len(st.Packets))
			}
		}
	}
}
