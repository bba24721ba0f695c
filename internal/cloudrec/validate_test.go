package cloudrec

import (
	"encoding/json"
	"fmt"
	"testing"
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
		{"hls and mp4", "", `,"mp4"`, s3, true},
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
		_, e := s.checkStart(&req)
		if (e == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, e, tc.ok)
		}
		if e != nil && (e.code != codeInvalidParam || e.status != 400) {
			t.Errorf("%s: %+v, want 400 code 2", tc.name, e)
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
	s := &Service{cfg: Config{LocalDir: "/srv/local"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req startRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		if st, e := s.checkStart(&req); e == nil && st.maxIdle <= 0 {
			t.Fatalf("accepted with maxIdle %v", st.maxIdle)
		}
		_ = checkCname(req.Cname)
		_, _ = checkUID(req.UID)
	})
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
