package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// KindMalformed is a request body that is not the JSON it should be; fixing the
// syntax helps, the fields were never looked at.
const KindMalformed Kind = "malformed"

// DecodeInvoice parses an invoice request body. Syntax errors are KindMalformed with
// the line and column; a value of the wrong JSON type or an unknown field is
// KindInvalid naming the field. Field values are checked by (*Invoice).Validate.
func DecodeInvoice(body []byte) (*Invoice, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var inv Invoice
	if err := dec.Decode(&inv); err != nil {
		return nil, decodeError(body, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Error{Kind: KindMalformed, Message: "the body must hold exactly one JSON object; found more after it"}
	}
	return &inv, nil
}

func decodeError(body []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return &Error{Kind: KindMalformed, Message: "the body is empty; send an invoice as a JSON object", Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(body, int64(len(body)))
		return &Error{Kind: KindMalformed, Message: fmt.Sprintf("the JSON ends too early (line %d, column %d)", line, col), Err: err}
	case errors.As(err, &syntax):
		line, col := position(body, syntax.Offset)
		return &Error{Kind: KindMalformed, Message: fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, syntax.Error()), Err: err}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &Error{Kind: KindMalformed, Message: fmt.Sprintf("the body must be a JSON object, not %s", typ.Value), Err: err}
		}
		return &Error{Kind: KindInvalid, Message: "the invoice has invalid fields", Err: err,
			Fields: []FieldError{{Field: field, Code: "wrong_type", Message: fmt.Sprintf("%s must be %s, not %s", field, jsonTypeName(typ.Type.Kind().String()), typ.Value)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Kind: KindInvalid, Message: "the invoice has invalid fields", Err: err,
			Fields: []FieldError{{Field: name, Code: "unknown_field", Message: fmt.Sprintf("%q is not a field of this object; check the spelling against the API documentation", name)}}}
	default:
		return &Error{Kind: KindMalformed, Message: "malformed JSON: " + err.Error(), Err: err}
	}
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "true or false"
	default:
		return "a number"
	}
}

// position turns a byte offset into a 1-based line and column.
func position(body []byte, offset int64) (line, col int) {
	if offset > int64(len(body)) {
		offset = int64(len(body))
	}
	before := body[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// DecodeJSON parses a small request body (terms, API key names) strictly into v, with
// the same error kinds as DecodeInvoice.
func DecodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(body, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Kind: KindMalformed, Message: "the body must hold exactly one JSON object; found more after it"}
	}
	return nil
}
