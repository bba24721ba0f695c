package console

import (
	"crypto/rand"
	"encoding/binary"
	"net/http"
	"time"

	"github.com/ars-project/ars/internal/api"
	"github.com/ars-project/ars/internal/rdk"
)

type devKeysResponse struct {
	Channel      string `json:"channel"`
	UID          uint32 `json:"uid"`
	RecordingKey string `json:"recordingKey"`
	MediaKey     string `json:"mediaKey"`
}

// handleDevKeys mints a recording key and a media key for a channel and
// uid. It exists only in development mode, where the daemon generated
// its own credentials and printed them on its console: anyone who can
// reach it could read them there too.
func (c *Console) handleDevKeys(w http.ResponseWriter, r *http.Request) {
	if c.dev == nil {
		api.WriteError(w, apiErr(http.StatusNotFound, "dev_mode_only", "keys are minted only in development mode (no ARS_APP_ID configured)"))
		return
	}
	var req keyRequest
	if e := decode(w, r, &req); e != nil {
		api.WriteError(w, e)
		return
	}
	if e := req.check(false); e != nil {
		api.WriteError(w, e)
		return
	}
	var salt [4]byte
	_, _ = rand.Read(salt[:])
	p := rdk.DynamicKeyParams{
		AppID: c.dev.AppID, AppCertificate: c.dev.AppCertificate, Channel: req.Channel, UID: uint32(*req.UID),
		UnixTs: uint32(time.Now().Unix()), Salt: binary.LittleEndian.Uint32(salt[:]),
	}
	rec, err := rdk.BuildKey4(rdk.Service4Recording, p)
	if err == nil {
		var media string
		media, err = rdk.BuildKey4(rdk.Service4Media, p)
		if err == nil {
			writeJSON(w, http.StatusOK, devKeysResponse{
				Channel: req.Channel, UID: p.UID, RecordingKey: rec, MediaKey: media,
			})
			return
		}
	}
	c.log.Error("mint development keys", "err", err)
	api.WriteError(w, apiErr(http.StatusInternalServerError, "internal", "keys could not be minted"))
}
