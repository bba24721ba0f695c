package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// soakDuration is ARS_SOAK (a Go duration), 30s by default.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("ARS_SOAK")
	if v == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 4*time.Second {
		t.Fatalf("ARS_SOAK=%q: want a duration of at least 4s", v)
	}
	return d
}

// footprint is what the daemon holds, from its metrics and /proc.
type footprint struct {
	goroutines, fds   int
	heapInuse, rss    float64
	participants, rec float64
}

func (d *daemon) footprint() footprint {
	m := d.metrics()
	return footprint{
		goroutines:   int(m["go_goroutines"]),
		fds:          len(fds(d.t, d.pid())),
		heapInuse:    m["go_memstats_heap_inuse_bytes"],
		rss:          m["process_resident_memory_bytes"],
		participants: m["ars_active_participants"],
		rec:          m["ars_recording_channels"],
	}
}

func (f footprint) String() string {
	return fmt.Sprintf("%d goroutines, %d fds, heap in use %.1f MiB, RSS %.1f MiB", f.goroutines, f.fds, f.heapInuse/(1<<20), f.rss/(1<<20))
}

// soakWorker drives one channel: participants join, record or not, send
// real media for a while, and end in one of the ways a session ends.
type soakWorker struct {
	d       *daemon
	channel string
	uid     uint32
	media   []testmedia.Stream
	rng     *rand.Rand
	cycles  *atomic.Int64
}

func (w *soakWorker) post(path string, body map[string]any, want ...int) (apiAnswer, error) {
	a, err := rawCall(w.d.base, nil, "POST", path, jsonBody(body))
	if err != nil {
		return a, fmt.Errorf("%s %s: %w", w.channel, path, err)
	}
	for _, code := range want {
		if a.status == code {
			return a, nil
		}
	}
	return a, fmt.Errorf("%s %s: %d %v", w.channel, path, a.status, a.body)
}

func (w *soakWorker) cycle(ctx context.Context) error {
	video, audio := w.rng.Uint32()|1, w.rng.Uint32()&^1
	join, err := w.post("/v1/rtp/join", map[string]any{
		"channel": w.channel, "uid": w.uid, "key": nowKey(rdk.Service4Media, w.channel, w.uid),
		"streams": []map[string]any{
			{"ssrc": video, "payloadType": testmedia.VideoPayloadType, "codec": "H264", "fmtp": "packetization-mode=1"},
			{"ssrc": audio, "payloadType": testmedia.AudioPayloadType, "codec": "opus", "channels": 2},
		},
	}, http.StatusCreated)
	if err != nil {
		return err
	}
	id, _ := join.body["id"].(string)
	port, _ := join.body["rtpPort"].(float64)
	recKey := nowKey(rdk.Service4Recording, w.channel, w.uid)
	record := w.rng.IntN(10) < 7
	if record {
		if _, err := w.post("/v1/recording/start", map[string]any{"channel": w.channel, "uid": w.uid, "key": recKey}, http.StatusOK); err != nil {
			return err
		}
	}
	s, err := dialMedia(int(port), w.media, video, audio)
	if err != nil {
		return err
	}
	defer s.close()
	length := time.Duration(300+w.rng.IntN(1200)) * time.Millisecond
	if err := s.send(ctx, 1, length); err != nil && ctx.Err() == nil {
		return err
	}
	leave := func() error {
		a, err := rawCall(w.d.base, nil, "DELETE", "/v1/rtp/"+id, "")
		if err != nil {
			return err
		}
		if a.status != http.StatusOK && a.status != http.StatusNotFound {
			return fmt.Errorf("%s leave: %d %v", w.channel, a.status, a.body)
		}
		return nil
	}
	switch w.rng.IntN(4) {
	case 0: // stop, then leave
		if record {
			if _, err := w.post("/v1/recording/stop", map[string]any{"channel": w.channel, "uid": w.uid, "key": recKey}, http.StatusOK); err != nil {
				return err
			}
		}
		err = leave()
	case 1: // leave: the last one out stops the recording
		err = leave()
	case 2: // RTCP BYE for both streams, from the sending socket
		bye := []byte{0x82, 203, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(bye[4:], video)
		binary.BigEndian.PutUint32(bye[8:], audio)
		_, _ = s.conn.Write(bye)
		time.Sleep(50 * time.Millisecond)
		err = leave() // normally already gone: 404
	default: // rejoin at once: the new session replaces this one
	}
	if err != nil {
		return err
	}
	w.cycles.Add(1)
	return nil
}

// finish leaves the channel empty and not recording.
func (w *soakWorker) finish() error {
	if _, err := w.post("/v1/recording/stop", map[string]any{"channel": w.channel, "uid": w.uid, "key": nowKey(rdk.Service4Recording, w.channel, w.uid)}, http.StatusOK); err != nil {
		return err
	}
	st, err := rawCall(w.d.base, nil, "GET", "/v1/recording/status?channel="+w.channel, "")
	if err != nil {
		return err
	}
	users, _ := st.body["users"].([]any)
	if len(users) == 0 {
		return nil
	}
	// The participant's ID is not in the status answer; a replacing join
	// followed by its leave empties the channel.
	a, err := w.post("/v1/rtp/join", map[string]any{
		"channel": w.channel, "uid": w.uid, "key": nowKey(rdk.Service4Media, w.channel, w.uid),
		"streams": []map[string]any{{"ssrc": w.rng.Uint32(), "payloadType": 96, "codec": "H264"}},
	}, http.StatusCreated)
	if err != nil {
		return err
	}
	id, _ := a.body["id"].(string)
	_, err = rawCall(w.d.base, nil, "DELETE", "/v1/rtp/"+id, "")
	return err
}

// TestSoakChannels: 40 channels start and stop at random for ARS_SOAK
// (default 30s) with real media from Go senders. Afterwards the daemon
// is back to the goroutines and descriptors it started with, and its
// heap does not grow from the first half of the soak to the second.
func TestSoakChannels(t *testing.T) {
	requireFFmpeg(t)
	const channels = 40
	total := soakDuration(t)
	media := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second})
	d := startDaemon(t, "ARS_IDLE_TIMEOUT=5s")
	var cycles atomic.Int64
	workers := make([]*soakWorker, channels)
	for i := range workers {
		workers[i] = &soakWorker{d: d, channel: fmt.Sprintf("soak-%02d", i), uid: uint32(100 + i), media: media,
			rng: rand.New(rand.NewPCG(uint64(i), 42)), cycles: &cycles}
	}
	run := func(n int, dur time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), dur)
		defer cancel()
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for _, w := range workers[:n] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if err := w.cycle(ctx); err != nil {
						errs <- err
						return
					}
				}
				errs <- w.finish()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	}
	// settle waits until every session is over and the goroutine count
	// stops falling (conversions of the last captures end).
	settle := func(limit int) footprint {
		t.Helper()
		var f footprint
		deadline := time.Now().Add(60 * time.Second)
		for {
			f = d.footprint()
			if f.participants == 0 && f.rec == 0 && d.metric("ars_open_capture_files") == 0 && (limit == 0 || f.goroutines <= limit) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("daemon did not settle: %v, %v participants, %v recordings (goroutine limit %d)", f, f.participants, f.rec, limit)
			}
			time.Sleep(250 * time.Millisecond)
		}
		time.Sleep(time.Second) // past one housekeeping tick
		return d.footprint()
	}

	run(2, 2*time.Second) // warm up whatever starts lazily
	base := settle(0)
	t.Logf("baseline: %v", base)
	run(channels, total/2)
	half := settle(base.goroutines + 5)
	t.Logf("after %v: %v (%d sessions)", total/2, half, cycles.Load())
	run(channels, total/2)
	end := settle(base.goroutines + 5)
	t.Logf("after %v: %v (%d sessions)", total, end, cycles.Load())
	if t.Failed() {
		return
	}

	if end.fds > base.fds+3 {
		t.Errorf("descriptors: %d at the start, %d after the soak", base.fds, end.fds)
	}
	if held := fdsUnder(t, d.pid(), d.root); len(held) != 0 {
		t.Errorf("files under the root still open: %v", held)
	}
	// The first half grows caches and pools to their working size; a leak
	// keeps growing through the second half.
	if grow := end.heapInuse - half.heapInuse; grow > max(8<<20, half.heapInuse/4) {
		t.Errorf("heap in use grew by %.1f MiB in the second half (%v -> %v)", grow/(1<<20), half, end)
	}
	if grow := end.rss - half.rss; grow > max(64<<20, half.rss/4) {
		t.Errorf("RSS grew by %.1f MiB in the second half (%v -> %v)", grow/(1<<20), half, end)
	}
	if cycles.Load() < channels {
		t.Errorf("only %d sessions in %v", cycles.Load(), total)
	}
	// Every capture the churn made is closed and whole.
	caps := findFiles(t, d.root, storage.CaptureExt)
	for _, c := range caps {
		if live, _ := storage.IsLive(c); live {
			t.Errorf("%s still locked", c)
		}
		if s := summarize(t, c); s.Torn {
			t.Errorf("%s torn: %v", c, s.TornErr)
		}
	}
	t.Logf("%d captures, %d MP4s, %v packets written, %v dropped as not recording", len(caps),
		len(findFiles(t, d.root, storage.MP4Ext)), d.metric("ars_packets_written_total"),
		d.metric(`ars_packets_dropped_total{cause="not_recording"}`))
	if strings.Contains(d.out.String(), "panic") {
		t.Error("panic in the daemon log")
	}
}
