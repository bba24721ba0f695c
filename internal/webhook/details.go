package webhook

import "encoding/json"

// The details of each event ars sends, with Agora's field names and, for
// ars's own additions, names in the same style. A details value knows its
// msgName, event type and service type; the msgName is written into the
// details object by Payload's JSON (payload.go), so the structs below do
// not carry it.

// Details is a payload's details object.
type Details interface {
	// MsgName is the object's "msgName".
	MsgName() string
}

// Event is the details of an event ars sends.
type Event interface {
	Details
	// EventType is the notification's eventType (EventError, ...).
	EventType() int
	// ServiceType is the payload's serviceType (ServiceRecorder, ...).
	ServiceType() int
}

// RecordingError is event 1, cloud_recording_error. Module, ErrorLevel,
// ErrorCode, Stat and ErrorMsg are always sent; the other fields only by
// the errors they concern (ars extensions, except the stream fields):
// a track that cannot write (StreamUID, TrackType, UtcMs), a lost file
// (FileName, and the stream fields when its track is known), files lost
// at the end (LostFiles), a failed mixer (Restarting).
type RecordingError struct {
	Module     int        `json:"module"`
	ErrorLevel int        `json:"errorLevel"`
	ErrorCode  int        `json:"errorCode"`
	Stat       int        `json:"stat"`
	ErrorMsg   string     `json:"errorMsg"`
	FileName   string     `json:"fileName,omitempty"`
	StreamUID  string     `json:"streamUid,omitempty"`
	TrackType  string     `json:"trackType,omitempty"`
	UtcMs      int64      `json:"UtcMs,omitempty"`
	LostFiles  []LostFile `json:"lostFiles,omitempty"`
	Restarting *bool      `json:"restarting,omitempty"`
}

// LostFile names a file that reached neither storage nor the backup.
type LostFile struct {
	FileName  string `json:"fileName"`
	TrackType string `json:"trackType,omitempty"`
	UID       string `json:"uid,omitempty"`
}

// FileInfos is event 4, cloud_recording_file_infos: a playlist was
// written and uploaded for the first time. FileList is its name (with
// the fileNamePrefix path), a string as Agora sends it.
type FileInfos struct {
	FileList string `json:"fileList"`
}

// RecordingWarning is event 2, cloud_recording_warning. WarnCode is
// Agora's: from the uploader (Module 1) 31 means a file is uploaded
// again to the storage, 32 that it went to the backup instead. FileName
// (an ars extension) names the file.
type RecordingWarning struct {
	Module   int    `json:"module"`
	WarnCode int    `json:"warnCode"`
	FileName string `json:"fileName,omitempty"`
}

// Warning codes of the uploader (event 2).
const (
	WarnReupload       = 31
	WarnReuploadBackup = 32
)

// StatusUpdate is event 3, cloud_recording_status_update: a call did not
// match the recording's state (a start with a resource already started,
// a stop of a recording already stopping). Status is the recording's
// status as query numbers it, RecordingMode 0 individual or 1 mix,
// FileList the name of its (first) playlist, "" before one is written.
type StatusUpdate struct {
	Status        int    `json:"status"`
	RecordingMode int    `json:"recordingMode"`
	FileList      string `json:"fileList"`
}

// Recording modes of StatusUpdate.
const (
	RecordingModeIndividual = 0
	RecordingModeMix        = 1
)

// FileInfo is one entry of a file list.
type FileInfo struct {
	FileName       string `json:"fileName"`
	TrackType      string `json:"trackType"`
	UID            string `json:"uid"`
	MixedAllUser   bool   `json:"mixedAllUser"`
	IsPlayable     bool   `json:"isPlayable"`
	SliceStartTime int64  `json:"sliceStartTime"`
}

// SessionExit is event 11, session_exit.
type SessionExit struct {
	ExitStatus int `json:"exitStatus"`
}

// SessionFailover is event 12, session_failover: the recording carried
// on after a restart. NewUID is Agora's field (the uid the recorder came
// back as); Reason ("crash" or "restart"), Failovers and SinceSavedMs
// (how long before the restart the state was last saved) are ars's.
type SessionFailover struct {
	NewUID       uint32 `json:"newUid"`
	Reason       string `json:"reason"`
	Failovers    int    `json:"failovers"`
	SinceSavedMs int64  `json:"sinceSavedMs"`
}

// UploaderStarted is event 30, uploader_started.
type UploaderStarted struct {
	Status int `json:"status"`
}

// Uploaded is event 31, uploaded: every file is in storage. FileList is
// Agora's: the recording's playlists and MP4s, as stop lists them.
// FileName and Restored (ars extensions) are sent instead when the last
// file of an ended recording left the backup.
type Uploaded struct {
	Status   int        `json:"status"`
	FileList []FileInfo `json:"fileList,omitempty"`
	FileName string     `json:"fileName,omitempty"`
	Restored bool       `json:"restored,omitempty"`
}

// Backuped is event 32, backuped: some files are in the backup only.
// FileList is as Uploaded's.
type Backuped struct {
	Status   int        `json:"status"`
	FileList []FileInfo `json:"fileList,omitempty"`
}

// UploadingProgress is event 33, uploading_progress, in 1/10000.
type UploadingProgress struct {
	Progress int `json:"progress"`
}

// RecorderStarted is event 40, recorder_started.
type RecorderStarted struct {
	Status int `json:"status"`
}

// RecorderLeave is event 41, recorder_leave. LeaveCode is Agora's
// bitmask of reasons (the LeaveCode constants); 0 means the recorder
// failed to start.
type RecorderLeave struct {
	LeaveCode int `json:"leaveCode"`
}

// Agora's leave reasons (bits of RecorderLeave.LeaveCode).
const (
	// LeaveInit: initialisation failed (no bit set).
	LeaveInit = 0
	// LeaveSignal: the service was told to exit (ars: shutting down).
	LeaveSignal = 2
	// LeaveNoUsers: the channel stayed empty for maxIdleTime.
	LeaveNoUsers = 4
	// LeaveClientLeave: the recorder left the channel (ars: a stop).
	LeaveClientLeave = 16
)

// RecorderSliceStart is event 42, recorder_slice_start. Streams is sent
// as [] when empty (a composite), so it must not be nil. Agora's page
// also documents streamUid and trackType at the top level: they are
// written from the one stream, or as "0" and "audio_and_video" for a
// composite (MarshalJSON).
type RecorderSliceStart struct {
	StartUtcMs       int64         `json:"startUtcMs"`
	DiscontinueUtcMs int64         `json:"discontinueUtcMs"`
	MixedAllUser     bool          `json:"mixedAllUser"`
	Streams          []SliceStream `json:"streams"`
}

// SliceStream is one stream of RecorderSliceStart.
type SliceStream struct {
	StreamUID  string `json:"streamUid"`
	TrackType  string `json:"trackType"`
	StartUtcMs int64  `json:"startUtcMs"`
}

// StreamStateChanged is the details of events 43 and 44: convert it to
// AudioStreamStateChanged or VideoStreamStateChanged to send it. Agora's
// page documents streamUid and state at the top level: they are written
// from the first stream too (MarshalJSON).
type StreamStateChanged struct {
	UtcMs   int64         `json:"UtcMs"`
	Streams []StreamState `json:"streams"`
}

// StreamState is one stream of a state change: State 0 means the stream
// is being received, 1 that it stopped.
type StreamState struct {
	StreamUID string `json:"streamUid"`
	State     int    `json:"state"`
}

// AudioStreamStateChanged is event 43,
// recorder_audio_stream_state_changed.
type AudioStreamStateChanged StreamStateChanged

// VideoStreamStateChanged is event 44,
// recorder_video_stream_state_changed.
type VideoStreamStateChanged StreamStateChanged

// RecorderSnapshotFile is event 45, recorder_snapshot_file: a snapshot
// (snapshotConfig) reached the storage. FileName is its key there, the
// fileNamePrefix included.
type RecorderSnapshotFile struct {
	FileName string `json:"fileName"`
}

// Each event's msgName, event type and service type (Event).

func (RecordingError) MsgName() string  { return "cloud_recording_error" }
func (RecordingError) EventType() int   { return EventError }
func (RecordingError) ServiceType() int { return ServiceCloudRecording }

func (RecordingWarning) MsgName() string  { return "cloud_recording_warning" }
func (RecordingWarning) EventType() int   { return EventWarning }
func (RecordingWarning) ServiceType() int { return ServiceCloudRecording }

func (StatusUpdate) MsgName() string  { return "cloud_recording_status_update" }
func (StatusUpdate) EventType() int   { return EventStatusUpdate }
func (StatusUpdate) ServiceType() int { return ServiceCloudRecording }

func (FileInfos) MsgName() string  { return "cloud_recording_file_infos" }
func (FileInfos) EventType() int   { return EventFileInfos }
func (FileInfos) ServiceType() int { return ServiceCloudRecording }

func (SessionExit) MsgName() string  { return "session_exit" }
func (SessionExit) EventType() int   { return EventSessionExit }
func (SessionExit) ServiceType() int { return ServiceCloudRecording }

func (SessionFailover) MsgName() string  { return "session_failover" }
func (SessionFailover) EventType() int   { return EventSessionFailover }
func (SessionFailover) ServiceType() int { return ServiceCloudRecording }

func (UploaderStarted) MsgName() string  { return "uploader_started" }
func (UploaderStarted) EventType() int   { return EventUploaderStarted }
func (UploaderStarted) ServiceType() int { return ServiceUploader }

func (Uploaded) MsgName() string  { return "uploaded" }
func (Uploaded) EventType() int   { return EventUploaded }
func (Uploaded) ServiceType() int { return ServiceUploader }

func (Backuped) MsgName() string  { return "backuped" }
func (Backuped) EventType() int   { return EventBackuped }
func (Backuped) ServiceType() int { return ServiceUploader }

func (UploadingProgress) MsgName() string  { return "uploading_progress" }
func (UploadingProgress) EventType() int   { return EventUploadingProgress }
func (UploadingProgress) ServiceType() int { return ServiceUploader }

func (RecorderStarted) MsgName() string  { return "recorder_started" }
func (RecorderStarted) EventType() int   { return EventRecorderStarted }
func (RecorderStarted) ServiceType() int { return ServiceRecorder }

func (RecorderLeave) MsgName() string  { return "recorder_leave" }
func (RecorderLeave) EventType() int   { return EventRecorderLeave }
func (RecorderLeave) ServiceType() int { return ServiceRecorder }

func (RecorderSliceStart) MsgName() string  { return "recorder_slice_start" }
func (RecorderSliceStart) EventType() int   { return EventRecorderSliceStart }
func (RecorderSliceStart) ServiceType() int { return ServiceRecorder }

func (AudioStreamStateChanged) MsgName() string  { return "recorder_audio_stream_state_changed" }
func (AudioStreamStateChanged) EventType() int   { return EventAudioStreamStateChanged }
func (AudioStreamStateChanged) ServiceType() int { return ServiceRecorder }

func (VideoStreamStateChanged) MsgName() string  { return "recorder_video_stream_state_changed" }
func (VideoStreamStateChanged) EventType() int   { return EventVideoStreamStateChanged }
func (VideoStreamStateChanged) ServiceType() int { return ServiceRecorder }

func (RecorderSnapshotFile) MsgName() string  { return "recorder_snapshot_file" }
func (RecorderSnapshotFile) EventType() int   { return EventRecorderSnapshotFile }
func (RecorderSnapshotFile) ServiceType() int { return ServiceRecorder }

// MarshalJSON writes the slice start with Agora's top-level streamUid and
// trackType beside the streams.
func (d RecorderSliceStart) MarshalJSON() ([]byte, error) {
	type plain RecorderSliceStart
	out := struct {
		plain
		StreamUID string `json:"streamUid,omitempty"`
		TrackType string `json:"trackType,omitempty"`
	}{plain: plain(d)}
	switch {
	case d.MixedAllUser:
		out.StreamUID, out.TrackType = "0", "audio_and_video"
	case len(d.Streams) > 0:
		out.StreamUID, out.TrackType = d.Streams[0].StreamUID, d.Streams[0].TrackType
	}
	return json.Marshal(out)
}

// flatStreamState is a state change with Agora's top-level streamUid and
// state beside the streams.
func flatStreamState(d StreamStateChanged) ([]byte, error) {
	type plain StreamStateChanged
	out := struct {
		plain
		StreamUID string `json:"streamUid"`
		State     int    `json:"state"`
	}{plain: plain(d)}
	if len(d.Streams) > 0 {
		out.StreamUID, out.State = d.Streams[0].StreamUID, d.Streams[0].State
	}
	return json.Marshal(out)
}

// MarshalJSON writes event 43 with Agora's top-level fields.
func (d AudioStreamStateChanged) MarshalJSON() ([]byte, error) {
	return flatStreamState(StreamStateChanged(d))
}

// MarshalJSON writes event 44 with Agora's top-level fields.
func (d VideoStreamStateChanged) MarshalJSON() ([]byte, error) {
	return flatStreamState(StreamStateChanged(d))
}
