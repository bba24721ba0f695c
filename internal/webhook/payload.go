package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// payloadJSON is Payload as sent, its details already encoded.
type payloadJSON struct {
	Cname       string          `json:"cname"`
	UID         string          `json:"uid"`
	SID         string          `json:"sid"`
	Sequence    int             `json:"sequence"`
	SendTs      int64           `json:"sendts"`
	ServiceType int             `json:"serviceType"`
	Details     json.RawMessage `json:"details"`
}

// MarshalJSON writes the payload with its details object.
func (p Payload) MarshalJSON() ([]byte, error) {
	d, err := encodeDetails(p.Details)
	if err != nil {
		return nil, err
	}
	return json.Marshal(payloadJSON{Cname: p.Cname, UID: p.UID, SID: p.SID, Sequence: p.Sequence,
		SendTs: p.SendTs, ServiceType: p.ServiceType, Details: d})
}

// UnmarshalJSON reads a payload; its details are kept as they came, as
// Raw, so that it encodes again to the same JSON.
func (p *Payload) UnmarshalJSON(b []byte) error {
	var w payloadJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("webhook: payload: %w", err)
	}
	*p = Payload{Cname: w.Cname, UID: w.UID, SID: w.SID, Sequence: w.Sequence, SendTs: w.SendTs, ServiceType: w.ServiceType}
	if len(w.Details) > 0 && !bytes.Equal(w.Details, []byte("null")) {
		p.Details = Raw(bytes.Clone(w.Details))
	}
	return nil
}

// encodeDetails is the details object of d: its fields after the msgName
// (receivers tell events apart by it), {} for none.
func encodeDetails(d Details) ([]byte, error) {
	switch d := d.(type) {
	case nil:
		return []byte("{}"), nil
	case Raw:
		return d.MarshalJSON()
	}
	fields, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("webhook: details: %w", err)
	}
	if len(fields) < 2 || fields[0] != '{' {
		return nil, fmt.Errorf("webhook: details of %s are not a JSON object", d.MsgName())
	}
	name, err := json.Marshal(d.MsgName())
	if err != nil {
		return nil, fmt.Errorf("webhook: details: %w", err)
	}
	out := append([]byte(`{"msgName":`), name...)
	if rest := fields[1:]; len(rest) > 1 { // more than the closing brace
		out = append(out, ',')
		out = append(out, rest...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}

// Raw is a details object as received (a notification read back): its
// JSON as it was, msgName included.
type Raw json.RawMessage

// MsgName implements Details: the object's msgName, "" if it has none.
func (r Raw) MsgName() string {
	var m struct {
		MsgName string `json:"msgName"`
	}
	_ = json.Unmarshal(r, &m)
	return m.MsgName
}

// MarshalJSON writes the object as it was received.
func (r Raw) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("{}"), nil
	}
	return r, nil
}
