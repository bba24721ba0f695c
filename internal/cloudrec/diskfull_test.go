package cloudrec

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/metrics"
	"github.com/ars-project/ars/internal/objstore"
	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testfs"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/webhook"
)

// events records the notifications a recording sends.
type events struct {
	mu  sync.Mutex
	got []sentEvent
}

type sentEvent struct {
	event int
	p     webhook.Payload
}

func (e *events) Notify(ev, _ int, p webhook.Payload) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, sentEvent{ev, p})
	return nil
}

func (e *events) of(ev int) []webhook.Details {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []webhook.Details
	for _, g := range e.got {
		if g.event == ev {
			out = append(out, g.p.Details)
		}
	}
	return out
}

// rig is one recorder on a real session manager, uploader and disk.
type rig struct {
	t      *testing.T
	svc    *Service
	rec    *recorder
	up     *objstore.Uploader
	ev     *events
	m      *metrics.Metrics
	p      *session.Participant
	media  []testmedia.Stream
	origin time.Time
	fed    int // packets of merged fed so far
	merged []testmedia.Packet
}

func newRig(t *testing.T, workDir, backupDir string, dest objstore.Destination, seconds int) *rig {
	t.Helper()
	testmedia.RequireFFmpeg(t)
	media := testmedia.Generate(t, testmedia.Options{Duration: time.Duration(seconds) * time.Second, GOP: 25})
	return newRigMedia(t, workDir, backupDir, dest, media, recorderSettings{fmp4: true})
}

// newRigMedia is newRig for the given participant's media (video first,
// as its streams' declarations say) and recorder settings (settings.dest
// and prefix are the rig's).
func newRigMedia(t *testing.T, workDir, backupDir string, dest objstore.Destination, media []testmedia.Stream,
	settings recorderSettings) *rig {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	mgr := session.New(storage.Layout{Root: t.TempDir()}, session.WithLogger(log))
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close(context.Background()) })
	r := &rig{t: t, ev: &events{}, m: metrics.New(), media: media, origin: time.Now()}
	var svc *Service
	r.up = objstore.NewUploader(backupDir, objstore.WithLogger(log), objstore.WithBackoff(time.Millisecond),
		objstore.WithRetryInterval(100*time.Millisecond), objstore.WithResults(func(res objstore.Result) { svc.UploadResult(res) }))
	svc = New(Config{WorkDir: workDir, IndividualFMP4: true, SegmentDuration: time.Second, WriteRetry: time.Second, StopWait: 20 * time.Second},
		mgr, nil, nil, r.up, WithLogger(log), WithNotifier(r.ev), WithMetrics(r.m))
	r.svc = svc
	if err := r.up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.up.Close(context.Background()) })
	var infos []storage.StreamInfo
	for _, m := range media {
		infos = append(infos, m.Info)
	}
	p, err := mgr.Join("diskroom", 7, "rtp", infos)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	settings.maxIdle, settings.dest, settings.prefix = time.Hour, dest, "rec"
	r.rec = newRecorder(svc, "rid1", "sid1", "diskroom", "999", 999, settings)
	svc.sessions[r.rec.sid] = r.rec
	if err := r.rec.start(); err != nil {
		t.Fatal(err)
	}
	r.merged = testmedia.Merge(media...)
	return r
}

// feedUntil hands the recorder the packets that arrived before media time
// until, as the session would, and waits until it has handled them.
func (r *rig) feedUntil(until time.Duration) {
	for ; r.fed < len(r.merged) && r.merged[r.fed].At < until; r.fed++ {
		for len(r.rec.in) > inboxSize/2 {
			time.Sleep(time.Millisecond)
		}
		pk := r.merged[r.fed]
		r.rec.Packet(r.p, storage.RecordRTP, r.origin.Add(pk.At), pk.Data)
	}
	for len(r.rec.in) > 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the last item handled
}

func (r *rig) status() int {
	st, _ := r.rec.snapshot()
	return st
}

// TestCloudTrackResumesAfterDiskFull: the work directory (a real tmpfs)
// fills up during a recording. Query answers 20 and event 1 goes out;
// once space returns both tracks write again (event 42 with the gap),
// query answers 5, and after stop every file was uploaded, the playlists
// decode with one discontinuity and frames on both sides of the gap.
func TestCloudTrackResumesAfterDiskFull(t *testing.T) {
	root := t.TempDir()
	work := filepath.Join(root, "work")
	testfs.Mount(t, work, "size=6m")
	store := filepath.Join(root, "store")
	r := newRig(t, work, filepath.Join(root, "backup"), objstore.Destination{Kind: "local", Dir: store}, 12)

	r.feedUntil(3 * time.Second)
	if st := r.status(); st != statusRunning {
		t.Fatalf("status %d before the disk filled", st)
	}
	filler := testfs.Fill(t, work)
	r.feedUntil(6 * time.Second)
	if st := r.status(); st != statusAbnormal {
		t.Errorf("query status %d on a full disk, want %d", st, statusAbnormal)
	}
	errs := r.ev.of(webhook.EventError)
	if len(errs) != 2 { // one per track, not one per retry
		t.Fatalf("%d error events on a full disk, want 2: %v", len(errs), errs)
	}
	if e := errs[0].(webhook.RecordingError); e.Module != errModuleRecorder || e.ErrorLevel != errLevelMajor || !strings.Contains(e.ErrorMsg, "disk full") {
		t.Errorf("error event: %v", e)
	}
	if v := testutil.ToFloat64(r.m.CloudTracksFailing); v != 2 {
		t.Errorf("ars_cloud_tracks_failing %v on a full disk, want 2", v)
	}
	// Each track failed, paused 1 s and failed again at its next segment.
	if v := testutil.ToFloat64(r.m.CloudWriteErrors); v < 3 {
		t.Errorf("ars_cloud_write_errors_total %v after 3 s full with 1 s retries, want at least 3", v)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.feedUntil(12 * time.Second)
	if st := r.status(); st != statusRunning {
		t.Errorf("query status %d once space returned, want %d", st, statusRunning)
	}
	if v := testutil.ToFloat64(r.m.CloudTracksFailing); v != 0 {
		t.Errorf("ars_cloud_tracks_failing %v after recovery", v)
	}
	resumed := 0
	for _, d := range r.ev.of(webhook.EventRecorderSliceStart) {
		e := d.(webhook.RecorderSliceStart)
		start, disc := e.StartUtcMs, e.DiscontinueUtcMs
		if start > disc {
			resumed++
			if gap := time.Duration(start-disc) * time.Millisecond; gap < 2*time.Second || gap > 6*time.Second {
				t.Errorf("reported gap %v for 3 s of full disk", gap)
			}
		}
	}
	if resumed != 2 {
		t.Errorf("%d resumptions reported (event 42 with a gap), want 2", resumed)
	}

	resp, ok := r.rec.stop(false)
	if !ok || resp.ServerResponse.UploadingStatus != uploadUploaded || len(resp.ServerResponse.LostFiles) != 0 {
		t.Fatalf("stop: %v %+v", ok, resp)
	}
	if len(resp.ServerResponse.FileList.entries) != 2 {
		t.Fatalf("file list %+v", resp.ServerResponse.FileList.entries)
	}
	for _, f := range resp.ServerResponse.FileList.entries {
		pl := filepath.Join(store, f.FileName)
		b, err := os.ReadFile(pl)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "#EXT-X-DISCONTINUITY"); n != 1 {
			t.Errorf("%s: %d discontinuities, want 1", f.FileName, n)
		}
		testmedia.Decode(t, pl)
		probe := testmedia.ProbeMP4(t, pl)
		// 12 s sent, 3 s on a full disk: what was lost is the gap and
		// the segment being written when it filled, not more.
		rate := map[string]int{storage.KindAudio: 50, storage.KindVideo: 25}[f.TrackType]
		if n := probe.Stream(f.TrackType).Frames; n < 6*rate || n > 10*rate {
			t.Errorf("%s: %d frames decoded, want 6 to 10 s worth", f.FileName, n)
		}
		t.Logf("%s: %d frames, %v", f.FileName, probe.Stream(f.TrackType).Frames, probe.Duration)
	}
	if len(r.ev.of(webhook.EventUploaded)) != 1 {
		t.Error("no uploaded event")
	}
}

// TestCloudLostFilesReported: storage refuses every file and the backup
// directory (a real tmpfs) fills up for a while, so files in between are
// neither uploaded nor backed up. Stop answers "unknown" (never
// "backuped") and names the lost segments, event 1 reports each, the
// metric counts them, and once storage works the restored playlists do
// not name them and decode.
func TestCloudLostFilesReported(t *testing.T) {
	root := t.TempDir()
	backup := filepath.Join(root, "backup")
	testfs.Mount(t, backup, "size=3m")
	store := filepath.Join(root, "store")
	if err := os.WriteFile(store, nil, 0o600); err != nil { // a file where the bucket should be
		t.Fatal(err)
	}
	r := newRig(t, filepath.Join(root, "work"), backup, objstore.Destination{Kind: "local", Dir: store}, 10)

	r.feedUntil(3 * time.Second)
	filler := testfs.Fill(t, backup)
	r.feedUntil(6 * time.Second)
	// The uploads of the last segments settle.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(r.m.CloudFilesLost) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.feedUntil(10 * time.Second)
	resp, ok := r.rec.stop(false)
	if !ok {
		t.Fatal("stop refused")
	}
	sr := resp.ServerResponse
	var lostSegs []string
	for _, f := range sr.LostFiles {
		if strings.HasSuffix(f.FileName, ".m4s") {
			lostSegs = append(lostSegs, f.FileName)
		}
		if strings.HasSuffix(f.FileName, ".m3u8") {
			t.Errorf("playlist %s reported lost, but a later version was backed up", f.FileName)
		}
	}
	if sr.UploadingStatus != uploadUnknown || len(lostSegs) == 0 {
		t.Fatalf("stop after lost files: uploadingStatus %q, lost %+v", sr.UploadingStatus, sr.LostFiles)
	}
	if v := testutil.ToFloat64(r.m.CloudFilesLost); int(v) < len(lostSegs) {
		t.Errorf("ars_cloud_files_lost_total %v, %d segments lost", v, len(lostSegs))
	}
	perFile := 0
	for _, d := range r.ev.of(webhook.EventError) {
		if e := d.(webhook.RecordingError); e.Module == errModuleUploader && e.ErrorCode == errCodeUploadFailed && e.FileName != "" {
			perFile++
		}
	}
	if perFile < len(lostSegs) {
		t.Errorf("%d lost-file events for %d lost segments", perFile, len(lostSegs))
	}
	if n := len(r.ev.of(webhook.EventBackuped)) + len(r.ev.of(webhook.EventUploaded)); n != 0 {
		t.Errorf("%d backuped/uploaded events although files were lost", n)
	}

	// Storage works again: the backups are restored, the lost segments
	// are missing and no playlist names them.
	if err := os.Remove(store); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for len(r.up.Backups()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(r.up.Backups()); n != 0 {
		t.Fatalf("%d backups never restored", n)
	}
	for _, f := range sr.FileList.entries {
		pl := filepath.Join(store, f.FileName)
		b, err := os.ReadFile(pl)
		if err != nil {
			t.Fatal(err)
		}
		for _, lost := range lostSegs {
			if strings.Contains(string(b), filepath.Base(lost)) {
				t.Errorf("%s still names lost %s", f.FileName, lost)
			}
		}
		if !strings.Contains(string(b), "#EXT-X-DISCONTINUITY") {
			t.Errorf("%s: no discontinuity where segments were lost:\n%s", f.FileName, b)
		}
		testmedia.Decode(t, pl)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(r.ev.of(webhook.EventUploaded)); n != 0 {
		t.Errorf("uploaded announced after restoring a recording that lost files")
	}
	t.Logf("lost: %v", lostSegs)
}

// TestCloudFailingTrackLeaves: a participant whose tracks cannot write
// leaves; the recording no longer answers status 20 for tracks that have
// nothing to write.
func TestCloudFailingTrackLeaves(t *testing.T) {
	root := t.TempDir()
	work := filepath.Join(root, "work")
	testfs.Mount(t, work, "size=4m")
	r := newRig(t, work, filepath.Join(root, "backup"), objstore.Destination{Kind: "local", Dir: filepath.Join(root, "store")}, 6)
	r.feedUntil(2 * time.Second)
	testfs.Fill(t, work)
	r.feedUntil(5 * time.Second)
	if st := r.status(); st != statusAbnormal {
		t.Fatalf("status %d on a full disk", st)
	}
	r.rec.Left(r.p)
	r.feedUntil(5 * time.Second) // waits for the worker
	if st := r.status(); st != statusRunning {
		t.Errorf("status %d after the failing participant left, want %d", st, statusRunning)
	}
	if v := testutil.ToFloat64(r.m.CloudTracksFailing); v != 0 {
		t.Errorf("ars_cloud_tracks_failing %v after the participant left", v)
	}
}
