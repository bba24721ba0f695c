package rdk

import "errors"

// Sentinel errors. Verifier methods wrap exactly one of them; the comment
// gives the HTTP mapping the API uses.
var (
	// ErrMalformed means the key cannot be parsed: unknown version, bad
	// length, bad encoding, truncated fields. HTTP 401 "invalid_key".
	ErrMalformed = errors.New("malformed key")
	// ErrBadSignature means the signature does not match. For 004/005 this
	// includes keys made for another channel or uid (they are only inside the
	// signature). HTTP 401 "invalid_key".
	ErrBadSignature = errors.New("key signature mismatch")
	// ErrExpired means the key is outside its validity window: too old or
	// too far in the future (DynamicKey unixTs, 007 issueTs), past expiredTs,
	// or past the 007 token or join privilege expiry. HTTP 401 "key_expired".
	ErrExpired = errors.New("key expired or not yet valid")
	// ErrWrongApp means the key was made for another app ID. HTTP 403
	// "wrong_app".
	ErrWrongApp = errors.New("key is for another app")
	// ErrWrongService means the key is authentic (its signature verifies)
	// but is of another kind: a media key offered for recording, a 007 token
	// offered for recording, a 007 token without an RTC service. HTTP 403
	// "wrong_service".
	ErrWrongService = errors.New("key is for another service")
	// ErrWrongChannelOrUID means an authentic 007 token names another
	// channel or uid. HTTP 403 "wrong_channel_or_uid".
	ErrWrongChannelOrUID = errors.New("key is for another channel or uid")
	// ErrNoPrivilege means an authentic 007 token lacks the join-channel
	// privilege. HTTP 403 "no_privilege".
	ErrNoPrivilege = errors.New("key lacks the required privilege")
	// ErrInvalidCredentials means an app ID or certificate given to a
	// generator or to NewVerifier is not 32 hexadecimal characters.
	ErrInvalidCredentials = errors.New("app ID and certificate must be 32 hex characters")
	// ErrInvalidParams means generator parameters cannot be encoded (for
	// example a channel name longer than 65535 bytes).
	ErrInvalidParams = errors.New("invalid key parameters")
)
