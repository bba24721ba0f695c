package console

import (
	"encoding/json"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/storage"
)

// maxRecordings bounds one list answer.
const maxRecordings = 200

var (
	dayDir   = regexp.MustCompile(`^[0-9]{4}_[0-9]{2}_[0-9]{2}$`)
	recSuffx = regexp.MustCompile(`^_([0-9]{6})(_[0-9]{1,4})?$`)
	fileName = regexp.MustCompile(`^([0-9]{1,10})_[0-9]{6}(_[0-9]{1,4})?\.(mp4|tmp)$`)
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(status int, code, msg string) *api.Error {
	return &api.Error{Status: status, Code: code, Message: msg}
}

// keyRequest is the body of the keyed console calls.
type keyRequest struct {
	Channel string   `json:"channel"`
	UID     *api.UID `json:"uid"`
	Key     string   `json:"key"`
}

// decode reads one small JSON object the way every API body is read.
func decode(w http.ResponseWriter, r *http.Request, v any) *api.Error {
	return api.DecodeJSON(w, r, v)
}

func (req keyRequest) check(needKey bool) *api.Error {
	if err := storage.ValidateChannelName(req.Channel); err != nil {
		return apiErr(http.StatusBadRequest, "invalid_channel", err.Error())
	}
	if req.UID == nil {
		return apiErr(http.StatusBadRequest, "invalid_uid", "uid must be a whole number from 1 to 4294967295")
	}
	if needKey && req.Key == "" {
		return apiErr(http.StatusUnauthorized, "missing_key", "a recording key is required")
	}
	return nil
}

type fileEntry struct {
	Name string `json:"name"`
	UID  uint32 `json:"uid"`
	// Kind is "mp4" or "capture" (the raw .tmp, not playable).
	Kind string `json:"kind"`
	Size int64  `json:"size"`
	// URL plays or downloads an MP4 for a limited time.
	URL string `json:"url,omitempty"`
}

type recordingEntry struct {
	Directory   string      `json:"directory"`
	StartedAt   time.Time   `json:"startedAt"`
	Tag         string      `json:"tag,omitempty"`
	ErrorStatus string      `json:"errorStatus,omitempty"`
	Active      bool        `json:"active"`
	Files       []fileEntry `json:"files"`
}

type listResponse struct {
	Channel    string           `json:"channel"`
	Recordings []recordingEntry `json:"recordings"`
	// URLsExpire is when the file URLs stop working.
	URLsExpire time.Time `json:"urlsExpire"`
}

// handleList answers a channel's recordings to a valid recording key for
// that channel.
func (c *Console) handleList(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if e := decode(w, r, &req); e != nil {
		api.WriteError(w, e)
		return
	}
	if e := req.check(true); e != nil {
		api.WriteError(w, e)
		return
	}
	if ke := c.gate.Check(r, func() error { return c.keys.VerifyRecording(req.Key, req.Channel, uint32(*req.UID)) }); ke != nil {
		api.WriteError(w, ke)
		return
	}
	recs, err := c.recordings(req.Channel)
	if err != nil {
		c.log.Error("list recordings", "channel", req.Channel, "err", err)
		api.WriteError(w, apiErr(http.StatusInternalServerError, "internal", "the recordings could not be listed"))
		return
	}
	writeJSON(w, http.StatusOK, listResponse{Channel: req.Channel, Recordings: recs, URLsExpire: c.sign.now().Add(c.sign.ttl).UTC()})
}

// recordings scans root/yyyy_mm_dd/Channel_HHMMSS[_n]/ for a channel's
// recordings, newest first. A directory counts only when its
// Metadata.txt names exactly this channel: "a_120000_2" may be channel
// "a" or channel "a_120000".
func (c *Console) recordings(channel string) ([]recordingEntry, error) {
	days, err := os.ReadDir(c.root)
	if err != nil {
		return nil, err
	}
	active := ""
	if st := c.mgr.Status(channel); st.Recording != nil {
		active = filepath.Clean(st.Recording.Directory)
	}
	out := []recordingEntry{}
	for _, day := range days {
		if !day.IsDir() || !dayDir.MatchString(day.Name()) {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(c.root, day.Name()))
		if err != nil {
			continue
		}
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Name(), channel)
			m := recSuffx.FindStringSubmatch(rest)
			if !ok || m == nil || !e.IsDir() {
				continue // symlinks are not directories here: DirEntry does not follow them
			}
			dir := filepath.Join(c.root, day.Name(), e.Name())
			md, err := storage.ReadMetadata(dir)
			if err != nil || md.ChannelName != channel {
				continue
			}
			started, _ := time.ParseInLocation("2006_01_02150405", day.Name()+m[1], time.Local)
			rec := recordingEntry{
				Directory: day.Name() + "/" + e.Name(), StartedAt: started, Tag: md.Tag,
				ErrorStatus: md.ErrorStatus, Active: dir == active, Files: c.files(day.Name(), e.Name(), dir),
			}
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Directory > out[j].Directory })
	if len(out) > maxRecordings {
		out = out[:maxRecordings]
	}
	return out, nil
}

// files lists a recording's captures and MP4s; only regular files count.
func (c *Console) files(day, name, dir string) []fileEntry {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []fileEntry{}
	}
	out := []fileEntry{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		uid, _ := strconv.ParseUint(m[1], 10, 32)
		f := fileEntry{Name: e.Name(), UID: uint32(uid), Kind: "capture", Size: info.Size()}
		if m[3] == "mp4" {
			f.Kind = "mp4"
			rel := path.Join(day, name, e.Name())
			if checkRel(rel) == nil {
				f.URL = c.sign.url(rel)
			}
		}
		out = append(out, f)
	}
	return out
}

// handleFile serves one MP4 named by a signed URL, with range requests
// (seeking in a <video>). The file is opened through an os.Root, so
// neither ".." nor a symlink can lead outside the recording root.
func (c *Console) handleFile(w http.ResponseWriter, r *http.Request) {
	rel, err := c.sign.verify(r.URL.Query())
	if err != nil {
		api.WriteError(w, apiErr(http.StatusForbidden, "bad_signature", "the link is invalid or has expired: list the recordings again"))
		return
	}
	root, err := os.OpenRoot(c.root)
	if err != nil {
		api.WriteError(w, apiErr(http.StatusInternalServerError, "internal", "the recording root is unavailable"))
		return
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		api.WriteError(w, apiErr(http.StatusNotFound, "not_found", "no such recording file"))
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		api.WriteError(w, apiErr(http.StatusNotFound, "not_found", "no such recording file"))
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, path.Base(rel), info.ModTime(), f)
}
