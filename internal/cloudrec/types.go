package cloudrec

import (
	"encoding/json"

	"github.com/ars-project/ars/internal/layout"
	"github.com/ars-project/ars/internal/webhook"
)

// Request and response bodies, with Agora's JSON spellings.

type acquireRequest struct {
	Cname         string `json:"cname"`
	UID           string `json:"uid"`
	ClientRequest *struct {
		ResourceExpiredHour *int `json:"resourceExpiredHour"`
		Scene               *int `json:"scene"`
	} `json:"clientRequest"`
}

type acquireResponse struct {
	Cname      string `json:"cname"`
	UID        string `json:"uid"`
	ResourceID string `json:"resourceId"`
}

type startRequest struct {
	Cname         string              `json:"cname"`
	UID           string              `json:"uid"`
	ClientRequest *startClientRequest `json:"clientRequest"`
}

type startClientRequest struct {
	Token               string               `json:"token"`
	RecordingConfig     *recordingConfig     `json:"recordingConfig"`
	RecordingFileConfig *recordingFileConfig `json:"recordingFileConfig"`
	SnapshotConfig      *snapshotConfig      `json:"snapshotConfig"`
	StorageConfig       *storageConfig       `json:"storageConfig"`
}

type recordingConfig struct {
	ChannelType          *int     `json:"channelType"`
	StreamTypes          *int     `json:"streamTypes"`
	StreamMode           string   `json:"streamMode"`
	DecryptionMode       int      `json:"decryptionMode"`
	AudioProfile         *int     `json:"audioProfile"`
	VideoStreamType      *int     `json:"videoStreamType"`
	MaxIdleTime          *int     `json:"maxIdleTime"`
	SubscribeAudioUIDs   []string `json:"subscribeAudioUids"`
	UnsubscribeAudioUIDs []string `json:"unSubscribeAudioUids"`
	SubscribeVideoUIDs   []string `json:"subscribeVideoUids"`
	UnsubscribeVideoUIDs []string `json:"unSubscribeVideoUids"`
	SubscribeUIDGroup    *int     `json:"subscribeUidGroup"`
	// TranscodingConfig is the composite's canvas and layout (mode mix).
	TranscodingConfig *transcodingConfig `json:"transcodingConfig"`
}

// layoutFields are the layout settings of transcodingConfig and of an
// updateLayout clientRequest (Agora's spellings).
type layoutFields struct {
	MaxResolutionUID           string               `json:"maxResolutionUid"`
	MixedVideoLayout           *int                 `json:"mixedVideoLayout"`
	BackgroundColor            string               `json:"backgroundColor"`
	BackgroundImage            string               `json:"backgroundImage"`
	DefaultUserBackgroundImage string               `json:"defaultUserBackgroundImage"`
	LayoutConfig               []layout.AgoraRegion `json:"layoutConfig"`
	BackgroundConfig           []json.RawMessage    `json:"backgroundConfig"`
}

// transcodingConfig is recordingConfig.transcodingConfig (mode mix).
type transcodingConfig struct {
	Width   *int `json:"width"`
	Height  *int `json:"height"`
	FPS     *int `json:"fps"`
	Bitrate *int `json:"bitrate"`
	layoutFields
}

type updateLayoutRequest struct {
	Cname         string        `json:"cname"`
	UID           string        `json:"uid"`
	ClientRequest *layoutFields `json:"clientRequest"`
}

type recordingFileConfig struct {
	AvFileType []string `json:"avFileType"`
}

type storageConfig struct {
	Vendor          *int             `json:"vendor"`
	Region          *int             `json:"region"`
	Bucket          string           `json:"bucket"`
	AccessKey       string           `json:"accessKey"`
	SecretKey       string           `json:"secretKey"`
	FileNamePrefix  []string         `json:"fileNamePrefix"`
	ExtensionParams *extensionParams `json:"extensionParams"`
}

type extensionParams struct {
	Endpoint string `json:"endpoint"`
	SSE      string `json:"sse"`
	Tag      string `json:"tag"`
}

type startResponse struct {
	Cname      string `json:"cname"`
	UID        string `json:"uid"`
	ResourceID string `json:"resourceId"`
	SID        string `json:"sid"`
}

type updateRequest struct {
	Cname         string `json:"cname"`
	UID           string `json:"uid"`
	ClientRequest *struct {
		StreamSubscribe *struct {
			AudioUIDList *struct {
				SubscribeAudioUIDs   []string `json:"subscribeAudioUids"`
				UnsubscribeAudioUIDs []string `json:"unSubscribeAudioUids"`
			} `json:"audioUidList"`
			VideoUIDList *struct {
				SubscribeVideoUIDs   []string `json:"subscribeVideoUids"`
				UnsubscribeVideoUIDs []string `json:"unSubscribeVideoUids"`
			} `json:"videoUidList"`
		} `json:"streamSubscribe"`
	} `json:"clientRequest"`
}

type stopRequest struct {
	Cname         string `json:"cname"`
	UID           string `json:"uid"`
	ClientRequest *struct {
		AsyncStop bool `json:"async_stop"`
	} `json:"clientRequest"`
}

// fileInfo is one entry of fileList (fileListMode "json"): the entry
// Agora sends in query and stop answers and in event 4 alike, defined once
// in internal/webhook.
type fileInfo = webhook.FileInfo

// fileList is a fileList value: Agora answers a list of entries
// (fileListMode "json") or, for a mix recording of HLS only, the
// playlist's name (fileListMode "string").
type fileList struct {
	name    string
	entries []fileInfo
	isName  bool
	// none: no fileList at all (a snapshot-only session), and no
	// fileListMode.
	none bool
}

// IsZero leaves out the fileList of a snapshot-only session (omitzero).
func (f fileList) IsZero() bool { return f.none }

func (f fileList) MarshalJSON() ([]byte, error) {
	if f.isName {
		return json.Marshal(f.name)
	}
	if f.entries == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(f.entries)
}

// mode is the fileListMode that goes with the list.
func (f fileList) mode() string {
	if f.none {
		return ""
	}
	if f.isName {
		return "string"
	}
	return "json"
}

type queryServerResponse struct {
	Status         int      `json:"status"`
	FileListMode   string   `json:"fileListMode,omitempty"`
	FileList       fileList `json:"fileList,omitzero"`
	SliceStartTime int64    `json:"sliceStartTime"`
}

type queryResponse struct {
	Cname          string              `json:"cname"`
	UID            string              `json:"uid"`
	ResourceID     string              `json:"resourceId"`
	SID            string              `json:"sid"`
	ServerResponse queryServerResponse `json:"serverResponse"`
}

type stopServerResponse struct {
	FileListMode    string   `json:"fileListMode,omitempty"`
	FileList        fileList `json:"fileList,omitzero"`
	UploadingStatus string   `json:"uploadingStatus"`
	// LostFiles (an ars extension) names the files that reached neither
	// storage nor the backup (a full disk); uploadingStatus is then
	// "unknown".
	LostFiles []lostFile `json:"lostFiles,omitempty"`
}

type stopResponse struct {
	Cname          string             `json:"cname"`
	UID            string             `json:"uid"`
	ResourceID     string             `json:"resourceId"`
	SID            string             `json:"sid"`
	Code           int                `json:"code,omitempty"`
	Reason         string             `json:"reason,omitempty"`
	ServerResponse stopServerResponse `json:"serverResponse"`
}

// Recorder status values of query (Agora's).
const (
	statusRunning = 5
	statusStopped = 7
	statusExited  = 8
)
