package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// wire is the details object d is sent as.
func wire(t *testing.T, d Details) map[string]any {
	t.Helper()
	b, err := json.Marshal(Payload{Details: d})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Details map[string]any `json:"details"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p.Details
}

// asJSON is v as its JSON reads.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDetailsWire checks every event's details against the field names
// and values of Agora's event reference (and ars's documented
// additions).
func TestDetailsWire(t *testing.T) {
	restarting := false
	type lost struct {
		FileName  string `json:"fileName"`
		TrackType string `json:"trackType,omitempty"`
		UID       string `json:"uid,omitempty"`
	}
	type file struct {
		FileName       string `json:"fileName"`
		TrackType      string `json:"trackType"`
		UID            string `json:"uid"`
		MixedAllUser   bool   `json:"mixedAllUser"`
		IsPlayable     bool   `json:"isPlayable"`
		SliceStartTime int64  `json:"sliceStartTime"`
	}
	cases := []struct {
		name    string
		d       Event
		ev, svc int
		old     map[string]any
	}{
		{"write failed", RecordingError{Module: 0, ErrorLevel: 4, ErrorCode: 1, Stat: 1, ErrorMsg: "disk full: x",
			StreamUID: "7", TrackType: "audio", UtcMs: 1700000000123}, EventError, ServiceCloudRecording,
			map[string]any{"msgName": "cloud_recording_error", "module": 0, "errorLevel": 4, "errorCode": 1, "stat": 1,
				"errorMsg": "disk full: x", "streamUid": "7", "trackType": "audio", "UtcMs": int64(1700000000123)}},
		{"file lost, track known", RecordingError{Module: 1, ErrorLevel: 4, ErrorCode: 47, Stat: 1, FileName: "p/a.m4s",
			ErrorMsg: "file lost: not queued", StreamUID: "0", TrackType: "audio_and_video"}, EventError, ServiceCloudRecording,
			map[string]any{"msgName": "cloud_recording_error", "module": 1, "errorLevel": 4, "errorCode": 47, "stat": 1,
				"fileName": "p/a.m4s", "errorMsg": "file lost: not queued", "streamUid": "0", "trackType": "audio_and_video"}},
		{"file lost, track unknown", RecordingError{Module: 1, ErrorLevel: 4, ErrorCode: 47, Stat: 1, FileName: "x",
			ErrorMsg: "file lost: e"}, EventError, ServiceCloudRecording,
			map[string]any{"msgName": "cloud_recording_error", "module": 1, "errorLevel": 4, "errorCode": 47, "stat": 1,
				"fileName": "x", "errorMsg": "file lost: e"}},
		{"files lost at exit", RecordingError{Module: 1, ErrorLevel: 4, ErrorCode: 47, Stat: 1, ErrorMsg: "2 recorded files were lost",
			LostFiles: []LostFile{{FileName: "a", TrackType: "video", UID: "3"}, {FileName: "b"}}}, EventError, ServiceCloudRecording,
			map[string]any{"msgName": "cloud_recording_error", "module": 1, "errorLevel": 4, "errorCode": 47, "stat": 1,
				"errorMsg": "2 recorded files were lost", "lostFiles": []lost{{FileName: "a", TrackType: "video", UID: "3"}, {FileName: "b"}}}},
		{"mixer failed", RecordingError{Module: 0, ErrorLevel: 4, ErrorCode: 1, Stat: 0, ErrorMsg: "m", Restarting: &restarting},
			EventError, ServiceCloudRecording,
			map[string]any{"msgName": "cloud_recording_error", "module": 0, "errorLevel": 4, "errorCode": 1, "stat": 0,
				"errorMsg": "m", "restarting": false}},
		{"file infos", FileInfos{FileList: "p/sid_c__uid_s_9__uid_e_audio.m3u8"}, EventFileInfos, ServiceCloudRecording,
			map[string]any{"msgName": "cloud_recording_file_infos", "fileList": "p/sid_c__uid_s_9__uid_e_audio.m3u8"}},
		{"warning", RecordingWarning{Module: 1, WarnCode: WarnReuploadBackup, FileName: "p/a.ts"}, EventWarning, ServiceCloudRecording,
			map[string]any{"msgName": "cloud_recording_warning", "module": 1, "warnCode": 32, "fileName": "p/a.ts"}},
		{"status update", StatusUpdate{Status: 5, RecordingMode: RecordingModeMix, FileList: "p/sid_c.m3u8"}, EventStatusUpdate, ServiceCloudRecording,
			map[string]any{"msgName": "cloud_recording_status_update", "status": 5, "recordingMode": 1, "fileList": "p/sid_c.m3u8"}},
		{"snapshot file", RecorderSnapshotFile{FileName: "p/sid_c__uid_s_4__uid_e_video_20261207224512345.jpg"}, EventRecorderSnapshotFile, ServiceRecorder,
			map[string]any{"msgName": "recorder_snapshot_file", "fileName": "p/sid_c__uid_s_4__uid_e_video_20261207224512345.jpg"}},
		{"session exit", SessionExit{}, EventSessionExit, ServiceCloudRecording,
			map[string]any{"msgName": "session_exit", "exitStatus": 0}},
		{"session failover", SessionFailover{NewUID: 527841, Reason: "crash", Failovers: 2, SinceSavedMs: 1234},
			EventSessionFailover, ServiceCloudRecording,
			map[string]any{"msgName": "session_failover", "newUid": uint32(527841), "reason": "crash", "failovers": 2, "sinceSavedMs": int64(1234)}},
		{"uploader started", UploaderStarted{}, EventUploaderStarted, ServiceUploader,
			map[string]any{"msgName": "uploader_started", "status": 0}},
		{"uploaded", Uploaded{}, EventUploaded, ServiceUploader, map[string]any{"msgName": "uploaded", "status": 0}},
		{"uploaded with files", Uploaded{FileList: []FileInfo{{FileName: "f.m3u8", TrackType: "audio", UID: "9", IsPlayable: true, SliceStartTime: 5}}},
			EventUploaded, ServiceUploader, map[string]any{"msgName": "uploaded", "status": 0,
				"fileList": []file{{FileName: "f.m3u8", TrackType: "audio", UID: "9", IsPlayable: true, SliceStartTime: 5}}}},
		{"uploaded from the backup", Uploaded{FileName: "k", Restored: true}, EventUploaded, ServiceUploader,
			map[string]any{"msgName": "uploaded", "status": 0, "fileName": "k", "restored": true}},
		{"backuped", Backuped{}, EventBackuped, ServiceUploader, map[string]any{"msgName": "backuped", "status": 0}},
		{"backuped with files", Backuped{FileList: []FileInfo{{FileName: "m.mp4", TrackType: "audio_and_video", UID: "0", MixedAllUser: true, IsPlayable: true}}},
			EventBackuped, ServiceUploader, map[string]any{"msgName": "backuped", "status": 0,
				"fileList": []file{{FileName: "m.mp4", TrackType: "audio_and_video", UID: "0", MixedAllUser: true, IsPlayable: true}}}},
		{"progress", UploadingProgress{Progress: 10000}, EventUploadingProgress, ServiceUploader,
			map[string]any{"msgName": "uploading_progress", "progress": 10000}},
		{"recorder started", RecorderStarted{}, EventRecorderStarted, ServiceRecorder,
			map[string]any{"msgName": "recorder_started", "status": 0}},
		{"recorder leave", RecorderLeave{LeaveCode: LeaveNoUsers | LeaveSignal}, EventRecorderLeave, ServiceRecorder,
			map[string]any{"msgName": "recorder_leave", "leaveCode": 6}},
		{"slice start", RecorderSliceStart{StartUtcMs: 10, DiscontinueUtcMs: 8, Streams: []SliceStream{{StreamUID: "4", TrackType: "video", StartUtcMs: 10}}},
			EventRecorderSliceStart, ServiceRecorder,
			map[string]any{"msgName": "recorder_slice_start", "startUtcMs": int64(10), "discontinueUtcMs": int64(8), "mixedAllUser": false,
				"streamUid": "4", "trackType": "video",
				"streams": []map[string]any{{"streamUid": "4", "trackType": "video", "startUtcMs": int64(10)}}}},
		{"slice start, composite", RecorderSliceStart{StartUtcMs: 10, DiscontinueUtcMs: 10, MixedAllUser: true, Streams: []SliceStream{}},
			EventRecorderSliceStart, ServiceRecorder,
			map[string]any{"msgName": "recorder_slice_start", "startUtcMs": int64(10), "discontinueUtcMs": int64(10), "mixedAllUser": true,
				"streamUid": "0", "trackType": "audio_and_video", "streams": []map[string]any{}}},
		{"audio state", AudioStreamStateChanged{UtcMs: 3, Streams: []StreamState{{StreamUID: "1", State: 1}}},
			EventAudioStreamStateChanged, ServiceRecorder,
			map[string]any{"msgName": "recorder_audio_stream_state_changed", "UtcMs": int64(3), "streamUid": "1", "state": 1,
				"streams": []map[string]any{{"streamUid": "1", "state": 1}}}},
		{"video state", VideoStreamStateChanged{UtcMs: 3, Streams: []StreamState{{StreamUID: "1", State: 0}}},
			EventVideoStreamStateChanged, ServiceRecorder,
			map[string]any{"msgName": "recorder_video_stream_state_changed", "UtcMs": int64(3), "streamUid": "1", "state": 0,
				"streams": []map[string]any{{"streamUid": "1", "state": 0}}}},
		{"snapshot file", RecorderSnapshotFile{FileName: "a/b/sid_c__uid_s_7__uid_e_video_20261207225000123.jpg"},
			EventRecorderSnapshotFile, ServiceRecorder,
			map[string]any{"msgName": "recorder_snapshot_file", "fileName": "a/b/sid_c__uid_s_7__uid_e_video_20261207225000123.jpg"}},
	}
	for _, c := range cases {
		if got, want := wire(t, c.d), asJSON(t, c.old); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: details %v, want %v", c.name, got, want)
		}
		if c.d.EventType() != c.ev || c.d.ServiceType() != c.svc {
			t.Errorf("%s: event %d service %d, want %d %d", c.name, c.d.EventType(), c.d.ServiceType(), c.ev, c.svc)
		}
	}
}

func TestPayloadWire(t *testing.T) {
	b, err := json.Marshal(Payload{Cname: "c", UID: "1", SID: "s", Sequence: 2, SendTs: 3, ServiceType: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Field names and order as before Details was typed; no details: {}.
	if want := `{"cname":"c","uid":"1","sid":"s","sequence":2,"sendts":3,"serviceType":1,"details":{}}`; string(b) != want {
		t.Errorf("payload %s, want %s", b, want)
	}
	b, err = json.Marshal(Payload{Details: RecorderLeave{}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"details":{"msgName":"recorder_leave","leaveCode":0}`) {
		t.Errorf("payload %s", b)
	}
}

// TestNotificationRoundTrip: a notification read back (from the queue, by
// a receiver) encodes again to the same bytes.
func TestNotificationRoundTrip(t *testing.T) {
	n := Notification{NoticeID: "id", ProductID: ProductCloudRecording, EventType: EventRecorderSliceStart, NotifyMs: 9,
		Payload: Payload{Cname: "c", UID: "1", SID: "s", Sequence: 4, SendTs: 9, ServiceType: ServiceRecorder,
			Details: RecorderSliceStart{StartUtcMs: 1, DiscontinueUtcMs: 1, Streams: []SliceStream{{StreamUID: "2", TrackType: "audio", StartUtcMs: 1}}}}}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var back Notification
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Payload.Details.MsgName() != "recorder_slice_start" {
		t.Errorf("msgName read back %q", back.Payload.Details.MsgName())
	}
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Errorf("re-encoded\n%s\nwant\n%s", again, b)
	}
}

// TestQueuedTypedDetailsSurviveRestart: what a notifier queued with typed
// details is delivered after a restart exactly as it was queued.
func TestQueuedTypedDetailsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	n := New("http://127.0.0.1:1/", "s3cret", dir, WithRetryPause(time.Hour))
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	d := SessionFailover{NewUID: 5, Reason: "crash", Failovers: 1, SinceSavedMs: 7}
	if err := n.Notify(d.EventType(), d.ServiceType(), Payload{SID: "s", Sequence: 1, Details: d}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	queued := n.Pending()
	if len(queued) != 1 {
		t.Fatalf("%d queued, want 1", len(queued))
	}
	stored, err := os.ReadFile(queued[0])
	if err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n2 := New(srv.URL, "s3cret", dir)
	if err := n2.Start(); err != nil {
		t.Fatal(err)
	}
	defer n2.Close(context.Background())
	waitUntil(t, func() bool { return rcv.count() == 1 })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if !bytes.Equal(rcv.bodies[0], stored) {
		t.Errorf("delivered\n%s\nqueued\n%s", rcv.bodies[0], stored)
	}
	again, err := json.Marshal(rcv.got[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, stored) {
		t.Errorf("read back and encoded\n%s\nqueued\n%s", again, stored)
	}
	if got := wire(t, rcv.got[0].Payload.Details); got["reason"] != "crash" || got["newUid"] != float64(5) {
		t.Errorf("details read back %v", got)
	}
}
