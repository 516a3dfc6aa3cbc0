package saga

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// ErrTrailingData is returned by DecodeStrict when the body holds more than
// one JSON value.
var ErrTrailingData = errors.New("data after the JSON value")

// DecodeStrict decodes exactly one JSON value into v, refusing unknown fields
// and anything after the value (Decoder.More alone misses a stray "}" or "]").
func DecodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailingData
	}
	return nil
}
