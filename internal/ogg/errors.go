package ogg

import "errors"

// ErrBad is an input that is not a whole Ogg stream.
var ErrBad = errors.New("ogg: bad stream")
