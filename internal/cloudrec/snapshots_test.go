package cloudrec

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/session"
	"github.com/ars-project/ars/internal/storage"
)

func TestCheckSnapshot(t *testing.T) {
	// Any existing file stands for the ars-mixer: only its presence is
	// checked at start.
	s := &Service{cfg: Config{LocalDir: "/srv/local", MixerBin: os.Args[0]}}
	body := func(rc, files, snap string) string {
		b := `{"cname":"c","uid":"1","clientRequest":{"token":"t","recordingConfig":{"channelType":0` + rc + `}`
		if files != "" {
			b += `,"recordingFileConfig":` + files
		}
		if snap != "" {
			b += `,"snapshotConfig":` + snap
		}
		return b + `,"storageConfig":{"vendor":100,"bucket":"abc"}}}`
	}
	hls := `{"avFileType":["hls"]}`
	cases := []struct {
		name, mode, rc, files, snap string
		ok                          bool
		interval                    time.Duration
		only                        bool
	}{
		{"snapshots only", modeIndividual, "", "", `{"captureInterval":5,"fileType":["jpg"]}`, true, 5 * time.Second, true},
		{"with recording", modeIndividual, `,"streamTypes":1`, hls, `{"captureInterval":3600,"fileType":["jpg"]}`, true, time.Hour, false},
		{"default interval", modeIndividual, "", "", `{"fileType":["jpg"]}`, true, 10 * time.Second, true},
		{"no snapshots", modeIndividual, "", hls, "", true, 0, false},
		{"interval too short", modeIndividual, "", "", `{"captureInterval":4,"fileType":["jpg"]}`, false, 0, false},
		{"interval too long", modeIndividual, "", "", `{"captureInterval":3601,"fileType":["jpg"]}`, false, 0, false},
		{"png", modeIndividual, "", "", `{"captureInterval":5,"fileType":["png"]}`, false, 0, false},
		{"no file type", modeIndividual, "", "", `{"captureInterval":5}`, false, 0, false},
		{"two file types", modeIndividual, "", "", `{"captureInterval":5,"fileType":["jpg","jpg"]}`, false, 0, false},
		{"audio only", modeIndividual, `,"streamTypes":0`, "", `{"fileType":["jpg"]}`, false, 0, false},
		{"mix mode", modeMix, "", hls, `{"fileType":["jpg"]}`, false, 0, false},
	}
	for _, tc := range cases {
		var req startRequest
		if err := json.Unmarshal([]byte(body(tc.rc, tc.files, tc.snap)), &req); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		st, e := s.checkStart(&req, tc.mode)
		if (e == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, e, tc.ok)
			continue
		}
		if e != nil {
			if e.code != codeInvalidParam || e.status != http.StatusBadRequest {
				t.Errorf("%s: %+v, want 400 code 2", tc.name, e)
			}
			continue
		}
		if tc.snap == "" {
			if st.snap != nil {
				t.Errorf("%s: snapshots %+v", tc.name, st.snap)
			}
			continue
		}
		if st.snap == nil || st.snap.interval != tc.interval || st.snap.only != tc.only {
			t.Errorf("%s: %+v, want every %v, only %v", tc.name, st.snap, tc.interval, tc.only)
		}
	}
	// Without the ars-mixer, snapshots are refused as a service not
	// enabled here.
	s.cfg.MixerBin = "/nonexistent/ars-mixer"
	var req startRequest
	_ = json.Unmarshal([]byte(body("", "", `{"fileType":["jpg"]}`)), &req)
	if _, e := s.checkStart(&req, modeIndividual); e == nil || e.code != codeNotEnabled || e.status != http.StatusServiceUnavailable {
		t.Errorf("no mixer: %+v", e)
	}
}

// TestSnapshotOnlyAnswers: a snapshot-only session's query and stop
// answers carry neither fileList nor fileListMode; any other session's
// still do, [] when empty.
func TestSnapshotOnlyAnswers(t *testing.T) {
	for _, tc := range []struct {
		fl   fileList
		want string
	}{
		{fileList{none: true}, `"serverResponse":{"status":5,"sliceStartTime":1}`},
		{fileList{entries: []fileInfo{}}, `"serverResponse":{"status":5,"fileListMode":"json","fileList":[],"sliceStartTime":1}`},
		{fileList{isName: true, name: "a.m3u8"}, `"serverResponse":{"status":5,"fileListMode":"string","fileList":"a.m3u8","sliceStartTime":1}`},
	} {
		b, err := json.Marshal(queryResponse{ServerResponse: queryServerResponse{Status: 5, FileListMode: tc.fl.mode(), FileList: tc.fl, SliceStartTime: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("query %s, want %s", b, tc.want)
		}
	}
	b, err := json.Marshal(stopResponse{ServerResponse: stopServerResponse{FileList: fileList{none: true}, UploadingStatus: "uploaded"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"serverResponse":{"uploadingStatus":"uploaded"}`) {
		t.Errorf("stop %s", b)
	}
}

func TestSnapName(t *testing.T) {
	r := &recorder{sid: "sid1", cname: "room"}
	at := time.Date(2026, 12, 7, 23, 1, 2, 345678901, time.FixedZone("x", 3600))
	if got := r.snapName(42, at); got != "sid1_room__uid_s_42__uid_e_video_20261207220102345.jpg" {
		t.Errorf("name %s", got)
	}
	r.failovers = 2
	if got := r.snapName(42, at); got != "bak1_sid1_room__uid_s_42__uid_e_video_20261207220102345.jpg" {
		t.Errorf("after fail-overs: %s", got)
	}
}

// TestSnapPacketAllocations: the per-packet snapshot check allocates
// nothing while no snapshot is due, and nothing per packet while one
// waits for its keyframe (packets of other pictures are only looked at).
func TestSnapPacketAllocations(t *testing.T) {
	r := &recorder{settings: recorderSettings{snap: &snapSettings{interval: 5 * time.Second}}}
	p := &session.Participant{}
	info := storage.StreamInfo{SSRC: 1, Kind: storage.KindVideo, Codec: "H264", ClockRate: 90000}
	pkt := make([]byte, 12+3)
	pkt[0], pkt[1] = 0x80, 96
	pkt[12] = 0x41 // a non-IDR slice: not a keyframe's start
	now := time.Unix(1700000000, 0)
	r.snapPacket(item{kind: itemPacket, p: p, at: now, data: pkt}, info, 1)
	u := r.snap.uids[0]
	if u == nil || !u.grab.Armed() {
		t.Fatalf("the first packet does not arm the first snapshot: %+v", u)
	}
	waiting := testing.AllocsPerRun(200, func() {
		r.snapPacket(item{kind: itemPacket, p: p, at: now.Add(100 * time.Millisecond), data: pkt}, info, 1)
	})
	u.grab.Disarm()
	u.due = now.Add(time.Hour)
	idle := testing.AllocsPerRun(200, func() {
		r.snapPacket(item{kind: itemPacket, p: p, at: now.Add(time.Second), data: pkt}, info, 1)
	})
	if waiting != 0 || idle != 0 {
		t.Fatalf("allocations per packet: %v waiting for a keyframe, %v idle", waiting, idle)
	}
}
