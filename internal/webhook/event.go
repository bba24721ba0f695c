package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
)

// ProductCloudRecording is Agora's productId of cloud recording.
const ProductCloudRecording = 3

// Event types of cloud recording notifications.
const (
	EventError                   = 1
	EventWarning                 = 2
	EventStatusUpdate            = 3
	EventFileInfos               = 4
	EventSessionExit             = 11
	EventSessionFailover         = 12
	EventUploaderStarted         = 30
	EventUploaded                = 31
	EventBackuped                = 32
	EventUploadingProgress       = 33
	EventRecorderStarted         = 40
	EventRecorderLeave           = 41
	EventRecorderSliceStart      = 42
	EventAudioStreamStateChanged = 43
	EventVideoStreamStateChanged = 44
	EventRecorderSnapshotFile    = 45
)

// Service types: which part of the recorder speaks.
const (
	ServiceCloudRecording = 0
	ServiceRecorder       = 1
	ServiceUploader       = 2
)

// Notification is the body Agora posts.
type Notification struct {
	NoticeID  string  `json:"noticeId"`
	ProductID int     `json:"productId"`
	EventType int     `json:"eventType"`
	NotifyMs  int64   `json:"notifyMs"`
	Payload   Payload `json:"payload"`
}

// Payload is the event itself. Its JSON is payload.go's: Details is
// written as an object with its msgName, {} when nil.
type Payload struct {
	Cname       string
	UID         string
	SID         string
	Sequence    int
	SendTs      int64
	ServiceType int
	Details     Details
}

// Sign returns the Agora-Signature (HMAC-SHA1) and Agora-Signature-V2
// (HMAC-SHA256) of body, in hex.
func Sign(secret string, body []byte) (v1, v2 string) {
	m1 := hmac.New(sha1.New, []byte(secret))
	m1.Write(body)
	m2 := hmac.New(sha256.New, []byte(secret))
	m2.Write(body)
	return hex.EncodeToString(m1.Sum(nil)), hex.EncodeToString(m2.Sum(nil))
}

// Verify checks both signature headers of a received body.
func Verify(secret string, body []byte, sig1, sig2 string) bool {
	v1, v2 := Sign(secret, body)
	return hmac.Equal([]byte(v1), []byte(sig1)) && hmac.Equal([]byte(v2), []byte(sig2))
}
