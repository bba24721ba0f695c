package cloudrec

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ars-project/ars/internal/layout"
)

func TestCheckStart(t *testing.T) {
	s := &Service{cfg: Config{LocalDir: "/srv/local"}}
	base := `{"cname":"c","uid":"1","clientRequest":{"token":"t","recordingConfig":{"channelType":0,"streamTypes":2,"subscribeUidGroup":0%s},
	"recordingFileConfig":{"avFileType":["hls"%s]},"storageConfig":%s}}`
	s3 := `{"vendor":11,"region":0,"bucket":"rec-bucket","accessKey":"a","secretKey":"b","fileNamePrefix":["x","Y9"],"extensionParams":{"sse":"","tag":"","endpoint":"http://127.0.0.1:9000"}}`
	cases := []struct {
		name, rc, files, storage string
		ok                       bool
	}{
		{"s3 compatible", "", "", s3, true},
		{"hls and mp4 in MPEG-TS", "", `,"mp4"`, s3, false},
		{"stream mode standard", `,"streamMode":"standard"`, "", s3, true},
		{"stream mode original", `,"streamMode":"original"`, "", s3, true},
		{"stream mode default", `,"streamMode":"default"`, "", s3, true},
		{"stream mode unknown", `,"streamMode":"raw"`, "", s3, false},
		{"webm", "", `,"webm"`, s3, false},
		{"amazon", "", "", `{"vendor":1,"region":3,"bucket":"abc","accessKey":"a","secretKey":"b"}`, true},
		{"amazon without region", "", "", `{"vendor":1,"bucket":"abc","accessKey":"a","secretKey":"b"}`, false},
		{"amazon region out of range", "", "", `{"vendor":1,"region":99,"bucket":"abc","accessKey":"a","secretKey":"b"}`, false},
		{"qiniu", "", "", `{"vendor":0,"region":0,"bucket":"abc","accessKey":"a","secretKey":"b"}`, false},
		{"local", "", "", `{"vendor":100,"bucket":"abc"}`, true},
		{"vendor 11 without endpoint", "", "", `{"vendor":11,"bucket":"abc","accessKey":"a","secretKey":"b"}`, false},
		{"endpoint with path", "", "", `{"vendor":11,"bucket":"abc","accessKey":"a","secretKey":"b","extensionParams":{"endpoint":"http://h/x"}}`, false},
		{"no keys", "", "", `{"vendor":11,"bucket":"abc","extensionParams":{"endpoint":"http://h"}}`, false},
		{"uppercase bucket", "", "", `{"vendor":100,"bucket":"ABC"}`, false},
		{"prefix underscore", "", "", `{"vendor":100,"bucket":"abc","fileNamePrefix":["a_b"]}`, false},
		{"max idle too short", `,"maxIdleTime":4`, "", s3, false},
		{"subscribe all", `,"subscribeAudioUids":["#allstream#"],"unSubscribeVideoUids":["5"]`, "", s3, true},
		{"both audio lists", `,"subscribeAudioUids":["1"],"unSubscribeAudioUids":["2"]`, "", s3, false},
		{"bad uid in list", `,"subscribeVideoUids":["x"]`, "", s3, false},
		{"stream types 3", `,"streamTypes":3`, "", s3, false},
		{"encrypted", `,"decryptionMode":1`, "", s3, false},
	}
	for _, tc := range cases {
		var req startRequest
		body := []byte(sprintf(base, tc.rc, tc.files, tc.storage))
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, e := s.checkStart(&req, modeIndividual)
		if (e == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, e, tc.ok)
		}
		if e != nil && (e.code != codeInvalidParam || e.status != 400) {
			t.Errorf("%s: %+v, want 400 code 2", tc.name, e)
		}
	}
	// MP4 files of an individual recording come from fMP4 segments.
	fs := &Service{cfg: Config{LocalDir: "/srv/local", IndividualFMP4: true}}
	var req startRequest
	if err := json.Unmarshal([]byte(sprintf(base, "", `,"mp4"`, s3)), &req); err != nil {
		t.Fatal(err)
	}
	if st, e := fs.checkStart(&req, modeIndividual); e != nil || !st.mp4 || !st.fmp4 {
		t.Errorf("hls and mp4 in fMP4: %+v %v", st, e)
	}
}

// TestCheckStreamMode: Agora's three modes, original only for audio-only
// recordings, the field ignored outside individual mode.
func TestCheckStreamMode(t *testing.T) {
	cases := []struct {
		v, mode     string
		streamTypes int
		want        string
		ok          bool
	}{
		{"", modeIndividual, 2, streamModeDefault, true},
		{"default", modeIndividual, 2, streamModeDefault, true},
		{"standard", modeIndividual, 1, streamModeStandard, true},
		{"original", modeIndividual, 0, streamModeOriginal, true},
		{"original", modeIndividual, 2, streamModeDefault, true},
		{"Standard", modeIndividual, 2, "", false},
		{"whatever", modeMix, 2, streamModeDefault, true},
	}
	for _, tc := range cases {
		got, e := checkStreamMode(tc.v, tc.mode, tc.streamTypes, false, false)
		if (e == nil) != tc.ok || got != tc.want {
			t.Errorf("%q %s streamTypes %d: %q %v, want %q ok=%v", tc.v, tc.mode, tc.streamTypes, got, e, tc.want, tc.ok)
		}
	}
}

func TestCheckStartMix(t *testing.T) {
	s := &Service{cfg: Config{LocalDir: "/srv/local"}}
	base := `{"cname":"c","uid":"1","clientRequest":{"token":"t","recordingConfig":{"channelType":1,"streamTypes":%d%s},
	"recordingFileConfig":{"avFileType":["hls"]},"storageConfig":{"vendor":100,"bucket":"abc"}}}`
	cases := []struct {
		name        string
		streamTypes int
		rc          string
		ok          bool
		w, h, fps   int
		mode        int
		bg          uint32
		regions     int
	}{
		{name: "defaults", streamTypes: 2, ok: true, w: 360, h: 640, fps: 15},
		{name: "official client zeros", streamTypes: 2, rc: `,"transcodingConfig":{"width":0,"height":0,"fps":0,"bitrate":0,"mixedVideoLayout":0}`, ok: true, w: 360, h: 640, fps: 15},
		{name: "best fit 640x360", streamTypes: 2, rc: `,"audioProfile":2,"transcodingConfig":{"width":640,"height":360,"fps":30,"bitrate":800,"mixedVideoLayout":1,"backgroundColor":"#00FF00"}`, ok: true, w: 640, h: 360, fps: 30, mode: 1, bg: 0x00ff00},
		{name: "odd sides round down", streamTypes: 2, rc: `,"transcodingConfig":{"width":641,"height":361}`, ok: true, w: 640, h: 360, fps: 15},
		{name: "custom", streamTypes: 2, rc: `,"transcodingConfig":{"mixedVideoLayout":3,"layoutConfig":[{"uid":"2","x_axis":0,"y_axis":0,"width":0.5,"height":1,"alpha":1,"render_mode":1},{"x_axis":0.5,"y_axis":0,"width":0.5,"height":1}]}`, ok: true, w: 360, h: 640, fps: 15, mode: 3, regions: 2},
		{name: "audio only", streamTypes: 0, ok: true},
		{name: "vertical without maxResolutionUid", streamTypes: 2, rc: `,"transcodingConfig":{"mixedVideoLayout":2}`},
		{name: "vertical", streamTypes: 2, rc: `,"transcodingConfig":{"mixedVideoLayout":2,"maxResolutionUid":"7"}`, ok: true, w: 360, h: 640, fps: 15, mode: 2},
		{name: "layout 4", streamTypes: 2, rc: `,"transcodingConfig":{"mixedVideoLayout":4}`},
		{name: "custom without regions", streamTypes: 2, rc: `,"transcodingConfig":{"mixedVideoLayout":3}`},
		{name: "region off the canvas", streamTypes: 2, rc: `,"transcodingConfig":{"mixedVideoLayout":3,"layoutConfig":[{"uid":"2","x_axis":0.6,"y_axis":0,"width":0.5,"height":1}]}`},
		{name: "render mode 2", streamTypes: 2, rc: `,"transcodingConfig":{"mixedVideoLayout":3,"layoutConfig":[{"uid":"2","x_axis":0,"y_axis":0,"width":0.5,"height":1,"render_mode":2}]}`},
		{name: "bad colour", streamTypes: 2, rc: `,"transcodingConfig":{"backgroundColor":"red"}`},
		{name: "background image", streamTypes: 2, rc: `,"transcodingConfig":{"backgroundImage":"http://127.0.0.1/x.jpg"}`},
		{name: "default user image", streamTypes: 2, rc: `,"transcodingConfig":{"defaultUserBackgroundImage":"http://h/x.jpg"}`},
		{name: "background config", streamTypes: 2, rc: `,"transcodingConfig":{"backgroundConfig":[{"uid":"2","image_url":"http://h/x.jpg"}]}`},
		{name: "too wide", streamTypes: 2, rc: `,"transcodingConfig":{"width":3840,"height":2160}`},
		{name: "too many pixels", streamTypes: 2, rc: `,"transcodingConfig":{"width":1920,"height":1920}`},
		{name: "fps 61", streamTypes: 2, rc: `,"transcodingConfig":{"fps":61}`},
		{name: "audio profile 3", streamTypes: 2, rc: `,"audioProfile":3`},
		{name: "18 regions", streamTypes: 2, rc: `,"transcodingConfig":{"mixedVideoLayout":3,"layoutConfig":[` + strings.TrimSuffix(strings.Repeat(`{"x_axis":0,"y_axis":0,"width":0.1,"height":0.1},`, 18), ",") + `]}`},
	}
	for _, tc := range cases {
		var req startRequest
		if err := json.Unmarshal([]byte(sprintf(base, tc.streamTypes, tc.rc)), &req); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		st, e := s.checkStart(&req, modeMix)
		if (e == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, e, tc.ok)
			continue
		}
		if e != nil {
			if e.code != codeInvalidParam || e.status != 400 {
				t.Errorf("%s: %+v, want 400 code 2", tc.name, e)
			}
			continue
		}
		c := st.mix.canvas
		if tc.w == 0 {
			if c != nil {
				t.Errorf("%s: canvas %+v for an audio-only composite", tc.name, *c)
			}
			continue
		}
		if c == nil || c.Width != tc.w || c.Height != tc.h || c.FPS != tc.fps {
			t.Errorf("%s: canvas %+v, want %dx%d@%d", tc.name, c, tc.w, tc.h, tc.fps)
		}
		l := st.mix.layout
		if int(l.Mode) != tc.mode || l.Background != tc.bg || len(l.Regions) != tc.regions || l.Width != tc.w {
			t.Errorf("%s: layout %+v", tc.name, l)
		}
	}
}

func TestUIDFilter(t *testing.T) {
	f, _ := parseFilter("Audio", []string{"1", "2"}, nil)
	g, _ := parseFilter("Audio", nil, []string{"2"})
	h, _ := parseFilter("Audio", nil, []string{allStreams})
	for _, c := range []struct {
		f    uidFilter
		uid  uint32
		want bool
	}{{f, 1, true}, {f, 3, false}, {g, 2, false}, {g, 3, true}, {h, 1, false}, {uidFilter{}, 9, true}} {
		if got := c.f.wants(c.uid); got != c.want {
			t.Errorf("%+v wants(%d) = %v", c.f, c.uid, got)
		}
	}
}

func FuzzCheckStart(f *testing.F) {
	f.Add([]byte(`{"cname":"c","uid":"1","clientRequest":{"recordingConfig":{"subscribeAudioUids":["#allstream#"]},"storageConfig":{"vendor":11,"bucket":"abc","accessKey":"a","secretKey":"b","extensionParams":{"endpoint":"http://h:1"}}}}`))
	f.Add([]byte(`{"clientRequest":{}}`))
	f.Add([]byte(`{"cname":"c","uid":"1","clientRequest":{"recordingConfig":{"audioProfile":1,"transcodingConfig":{"width":640,"height":360,"fps":15,"bitrate":500,"mixedVideoLayout":3,"backgroundColor":"#102030","layoutConfig":[{"uid":"2","x_axis":0.1,"y_axis":0.1,"width":0.5,"height":0.5,"alpha":0.5,"render_mode":1},{"x_axis":0,"y_axis":0,"width":1,"height":1}]}},"storageConfig":{"vendor":100,"bucket":"abc"}}}`))
	s := &Service{cfg: Config{LocalDir: "/srv/local"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req startRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		if st, e := s.checkStart(&req, modeIndividual); e == nil && st.maxIdle <= 0 {
			t.Fatalf("accepted with maxIdle %v", st.maxIdle)
		}
		if st, e := s.checkStart(&req, modeMix); e == nil {
			if st.mix == nil {
				t.Fatal("a mix start without its composite settings")
			}
			if c := st.mix.canvas; c != nil && (c.Width%2 != 0 || c.Height%2 != 0 || c.Width < 16 || c.FPS < 1) {
				t.Fatalf("accepted canvas %+v", *c)
			}
			if err := st.mix.layout.Validate(); err != nil {
				t.Fatalf("accepted layout: %v", err)
			}
		}
		_ = checkCname(req.Cname)
		_, _ = checkUID(req.UID)
	})
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// FuzzUpdateLayout: any updateLayout body is refused cleanly or gives a
// layout that lays out inside the canvas.
func FuzzUpdateLayout(f *testing.F) {
	f.Add([]byte(`{"cname":"c","uid":"1","clientRequest":{"mixedVideoLayout":3,"backgroundColor":"#FF0000","layoutConfig":[{"uid":"22","x_axis":0.1,"y_axis":0.1,"width":0.1,"height":0.1,"alpha":1,"render_mode":1}]}}`))
	f.Add([]byte(`{"cname":"c","uid":"1","clientRequest":{"mixedVideoLayout":2,"maxResolutionUid":"5"}}`))
	f.Add([]byte(`{"clientRequest":{"layoutConfig":[{"x_axis":1e308,"width":-1}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req updateLayoutRequest
		if json.Unmarshal(b, &req) != nil || req.ClientRequest == nil {
			return
		}
		cfg, e := checkLayout("clientRequest.", req.ClientRequest, 640, 360)
		if e != nil {
			return
		}
		ps := []layout.Participant{{UID: "5", Source: 1, Video: true}, {UID: "22", Source: 2, Video: true}, {UID: "7", Source: 3}}
		for _, w := range layout.Compute(cfg, ps).Windows {
			if w.X < 0 || w.Y < 0 || w.W <= 0 || w.H <= 0 || w.X+w.W > 640 || w.Y+w.H > 360 || w.Alpha < 0 || w.Alpha > 1 {
				t.Fatalf("window %+v outside the canvas or alpha", w)
			}
		}
	})
}
