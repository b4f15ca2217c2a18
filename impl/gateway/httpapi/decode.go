package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/opendht-go/opendht/impl/dht"
)

// DefaultTTL is the TTL of a write that gives none, in seconds: the user
// guide's default.
const DefaultTTL = 3600

// DefaultMaxVals is the maxvals of a get that gives none: the user guide's
// default.
const DefaultMaxVals = 10

// requestError is a malformed request: it becomes a 400 with its text. err
// is the dht error it stands for, if any, so that the text is the original
// one and errors.Is finds it.
type requestError struct {
	msg string
	err error
}

func (e *requestError) Error() string {
	if e.msg == "" {
		return e.err.Error()
	}
	return e.msg
}

func (e *requestError) Unwrap() error { return e.err }

func badRequest(format string, a ...any) error {
	return &requestError{msg: fmt.Sprintf(format, a...)}
}

// bad marks a dht validation error as the client's.
func bad(err error) error { return &requestError{err: err} }

// errBadKey: the key in the path is not 2 to 40 hex digits.
var errBadKey = errors.New("key must be 2 to 40 hex digits (1 to 20 bytes)")

// parseKey reads the {key} of a path: hex, an even count of 2 to 40
// digits, left-padded to 20 bytes (LIM-1).
func parseKey(s string) (dht.Key, error) {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return dht.Key{}, bad(errBadKey)
		}
	}
	switch {
	case len(s) > 2*dht.KeyLen:
		return dht.Key{}, bad(dht.ErrKeyTooLong)
	case len(s) < 2 || len(s)%2 != 0:
		return dht.Key{}, bad(errBadKey)
	}
	var b [dht.KeyLen]byte
	n, err := hex.Decode(b[:], []byte(s))
	if err != nil {
		return dht.Key{}, bad(errBadKey)
	}
	k, err := dht.ParseKey(b[:n])
	if err != nil {
		return dht.Key{}, bad(err)
	}
	return k, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// decodeBase64 reads a binary field: standard or URL-safe alphabet, padded
// or not; line breaks are ignored, as in MIME-style encoders. A string
// that would decode to more than max bytes is refused with tooLong before
// anything is decoded.
func decodeBase64(field, s string, max int, tooLong error) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	}
	raw := strings.TrimRight(s, "=")
	if base64.RawStdEncoding.DecodedLen(len(raw)) > max {
		return nil, bad(tooLong)
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(raw, "-_") {
		enc = base64.URLEncoding
	}
	if len(raw) == len(s) {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, badRequest("%s is not base64: %v", field, err)
	}
	return b, nil
}

// jsonInt reads an integer field. Absent or null gives def. A whole number
// written with a fraction or an exponent (3600.0, 3.6e3) is accepted; a
// number beyond int64 saturates, so that a huge TTL is clamped like any
// other and a huge negative one is refused.
func jsonInt(field string, raw json.RawMessage, def int64) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return def, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if !isJSONNumber(s) {
		return 0, badRequest("%s must be a whole number, got %s", field, truncate(s))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, badRequest("%s must be a whole number, got %s", field, truncate(s))
	}
	switch {
	case f != math.Trunc(f):
		return 0, badRequest("%s must be a whole number, got %s", field, truncate(s))
	case f >= math.MaxInt64:
		return math.MaxInt64, nil
	case f <= math.MinInt64:
		return math.MinInt64, nil
	}
	return int64(f), nil
}

// isJSONNumber reports whether s starts like a JSON number (the decoder
// has checked the rest of its syntax).
func isJSONNumber(s string) bool {
	return s != "" && (s[0] == '-' || '0' <= s[0] && s[0] <= '9')
}

// ttl reads the ttl field: default DefaultTTL, positive, clamped to
// dht.MaxTTL like the other gateways (TTL-1, TTL-2).
func ttl(raw json.RawMessage) (int64, error) {
	t, err := jsonInt("ttl", raw, DefaultTTL)
	if err != nil {
		return 0, err
	}
	t, err = dht.ClampTTL(t)
	if err != nil {
		return 0, bad(err)
	}
	return t, nil
}

// valueText is the "value" field: base64 text, where null stands for the
// empty value, as Go's encoding/json writes a nil []byte. Absent is not
// empty: set tells them apart.
type valueText struct {
	text string
	set  bool
}

func (v *valueText) UnmarshalJSON(b []byte) error {
	v.set = true
	if string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, &v.text)
}

// putRequest is the body of POST /api/v1/keys/{key}. Pointers tell an
// absent field from an empty one: an empty secret is legal.
type putRequest struct {
	Value       valueText       `json:"value"`
	TTL         json.RawMessage `json:"ttl"`
	SecretHash  *string         `json:"secret_hash"`
	Secret      *string         `json:"secret"`
	Application *string         `json:"application"`
}

// removeRequest is the body of DELETE /api/v1/keys/{key}.
type removeRequest struct {
	ValueHash   *string         `json:"value_hash"`
	Value       valueText       `json:"value"`
	Secret      *string         `json:"secret"`
	TTL         json.RawMessage `json:"ttl"`
	Application *string         `json:"application"`
}

// casRequest is the body of POST /api/v1/registers/{key}.
type casRequest struct {
	Expected    json.RawMessage `json:"expected"`
	Value       valueText       `json:"value"`
	TTL         json.RawMessage `json:"ttl"`
	Application *string         `json:"application"`
}

// jsonVersion reads a register version: a JSON integer written as digits
// (no fraction or exponent, which a float could have rounded), or a
// decimal string, for clients whose numbers are doubles (JavaScript). A
// negative integer or one beyond 2^64-1 is out of range (CAS-8). Absent or
// null is an error: a cas must say what it expects.
func jsonVersion(field string, raw json.RawMessage) (uint64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, badRequest("%s is required (0 for an absent register)", field)
	}
	text := s
	if s[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, badRequest("%s must be a whole number, got %s", field, truncate(s))
		}
	}
	digits := strings.TrimPrefix(text, "-")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, badRequest("%s must be a whole number from 0 to 18446744073709551614, in digits, got %s", field, truncate(s))
	}
	if len(digits) != len(text) {
		return 0, bad(dht.ErrBadExpected)
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, bad(dht.ErrBadExpected) // beyond 2^64-1: the digits were checked
	}
	return n, nil
}

const casFields = `"expected", "value", "ttl", "application"`

// decodeCAS turns the body of a POST to a register into a cas, and
// returns the application name the client gave.
func decodeCAS(key dht.Key, body []byte) (dht.CAS, string, error) {
	var req casRequest
	if err := decodeBody(body, &req, casFields); err != nil {
		return dht.CAS{}, "", err
	}
	expected, err := jsonVersion("expected", req.Expected)
	if err != nil {
		return dht.CAS{}, "", err
	}
	if !req.Value.set {
		return dht.CAS{}, "", badRequest("value is required (\"\" to delete)")
	}
	val, err := decodeBase64("value", req.Value.text, dht.MaxValueLen, dht.ErrValueTooLong)
	if err != nil {
		return dht.CAS{}, "", err
	}
	t, err := ttl(req.TTL)
	if err != nil {
		return dht.CAS{}, "", err
	}
	c := dht.CAS{Key: key, Expected: expected, Value: val, TTL: t}
	if err := c.Validate(); err != nil {
		return dht.CAS{}, "", bad(err)
	}
	return c, deref(req.Application), nil
}

// decodeBody reads exactly one JSON object with only the fields of v.
func decodeBody(body []byte, v any, fields string) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return badRequest("request body is empty: want a JSON object with %s", fields)
	}
	if trimmed[0] != '{' {
		return badRequest("request body must be a JSON object with %s", fields)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return badRequest("request body is not valid JSON: %v (at byte %d)", se, se.Offset)
		case errors.As(err, &te):
			return badRequest("request body: field %q must be %s, got %s", te.Field, want(te.Field), te.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("request body is not valid JSON: it ends early")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("request body: %s (the fields are %s)", truncate(strings.TrimPrefix(err.Error(), "json: ")), fields)
		}
		return badRequest("request body: %s", truncate(strings.TrimPrefix(err.Error(), "json: ")))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body must hold one JSON object and nothing after it")
	}
	return nil
}

// want names the JSON type a field takes, for error texts.
func want(field string) string {
	if field == "application" {
		return "a string"
	}
	return "a base64 string"
}

const (
	putFields    = `"value", "ttl", "secret_hash", "secret", "application"`
	removeFields = `"value_hash" or "value", "secret", "ttl", "application"`
)

// decodePut turns the body of a POST into a put for client, and returns
// the application name the client gave.
func decodePut(client dht.ClientID, key dht.Key, body []byte) (dht.Put, string, error) {
	var req putRequest
	if err := decodeBody(body, &req, putFields); err != nil {
		return dht.Put{}, "", err
	}
	if !req.Value.set {
		return dht.Put{}, "", badRequest("value is required")
	}
	val, err := decodeBase64("value", req.Value.text, dht.MaxValueLen, dht.ErrValueTooLong)
	if err != nil {
		return dht.Put{}, "", err
	}
	t, err := ttl(req.TTL)
	if err != nil {
		return dht.Put{}, "", err
	}
	p := dht.Put{Client: client, Key: key, Value: val, TTL: t}
	switch {
	case req.Secret != nil && req.SecretHash != nil:
		return dht.Put{}, "", badRequest("give secret or secret_hash, not both")
	case req.Secret != nil:
		// A longer secret could never be given to rm (LIM-3): refuse the
		// put rather than store a value nobody can remove.
		secret, err := decodeBase64("secret", *req.Secret, dht.MaxSecretLen, dht.ErrSecretTooLong)
		if err != nil {
			return dht.Put{}, "", err
		}
		p.SecretHash = dht.SHA1(secret)
	case req.SecretHash != nil:
		hb, err := decodeBase64("secret_hash", *req.SecretHash, dht.HashLen, dht.ErrBadSecretHash)
		if err != nil {
			return dht.Put{}, "", err
		}
		sh, ok := dht.ParseHash(hb)
		if !ok {
			return dht.Put{}, "", bad(dht.ErrBadSecretHash)
		}
		if sh.IsZero() {
			return dht.Put{}, "", bad(dht.ErrZeroSecretHash)
		}
		p.SecretHash = sh
	}
	if err := p.Validate(); err != nil {
		return dht.Put{}, "", bad(err)
	}
	return p, deref(req.Application), nil
}

// decodeRemove turns the body of a DELETE into a remove for client.
func decodeRemove(client dht.ClientID, key dht.Key, body []byte) (dht.Remove, string, error) {
	var req removeRequest
	if err := decodeBody(body, &req, removeFields); err != nil {
		return dht.Remove{}, "", err
	}
	r := dht.Remove{Client: client, Key: key}
	switch {
	case req.Value.set && req.ValueHash != nil:
		return dht.Remove{}, "", badRequest("give value or value_hash, not both")
	case req.Value.set:
		val, err := decodeBase64("value", req.Value.text, dht.MaxValueLen, dht.ErrValueTooLong)
		if err != nil {
			return dht.Remove{}, "", err
		}
		r.ValueHash = dht.SHA1(val)
	case req.ValueHash != nil:
		hb, err := decodeBase64("value_hash", *req.ValueHash, dht.HashLen, dht.ErrBadValueHash)
		if err != nil {
			return dht.Remove{}, "", err
		}
		vh, ok := dht.ParseHash(hb)
		if !ok {
			return dht.Remove{}, "", bad(dht.ErrBadValueHash)
		}
		r.ValueHash = vh
	default:
		return dht.Remove{}, "", badRequest("value_hash (or value) is required")
	}
	if req.Secret == nil {
		return dht.Remove{}, "", badRequest("secret is required")
	}
	secret, err := decodeBase64("secret", *req.Secret, dht.MaxSecretLen, dht.ErrSecretTooLong)
	if err != nil {
		return dht.Remove{}, "", err
	}
	r.Secret = secret
	if r.TTL, err = ttl(req.TTL); err != nil {
		return dht.Remove{}, "", err
	}
	if err := r.Validate(); err != nil {
		return dht.Remove{}, "", bad(err)
	}
	return r, deref(req.Application), nil
}

// decodeGet reads the query of a GET: maxvals (default DefaultMaxVals,
// positive, capped at maxValsCap), placemark, and read ("quorum", the
// default, or "fast": a fast read, spec RD-14), nothing else.
func decodeGet(key dht.Key, rawQuery string, maxValsCap int) (dht.Get, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return dht.Get{}, badRequest("query is malformed: %v", err)
	}
	g := dht.Get{Key: key, MaxVals: DefaultMaxVals}
	for name, vs := range q {
		if len(vs) != 1 {
			return dht.Get{}, badRequest("query parameter %q given %d times", truncate(name), len(vs))
		}
		v := vs[0]
		switch name {
		case "maxvals":
			n, err := strconv.ParseInt(v, 10, 64)
			switch {
			case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-"):
				n = math.MaxInt64
			case err != nil:
				return dht.Get{}, badRequest("maxvals must be a whole number, got %q", truncate(v))
			}
			if n <= 0 {
				return dht.Get{}, bad(dht.ErrBadMaxVals)
			}
			g.MaxVals = int(min(n, int64(maxValsCap)))
		case "placemark":
			// A standard-alphabet placemark put into the query unescaped
			// has its '+' read as a space; no base64 has a space.
			v = strings.ReplaceAll(v, " ", "+")
			pm, err := decodeBase64("placemark", v, dht.MaxPlacemarkLen, dht.ErrBadPlacemark)
			if err != nil {
				return dht.Get{}, bad(dht.ErrBadPlacemark)
			}
			g.Placemark = pm
		case "read":
			switch v {
			case "quorum":
			case "fast":
				g.Fast = true
			default:
				return dht.Get{}, badRequest("read must be quorum (the default: read-your-acknowledged-writes) or fast (the first replica to answer), got %q", truncate(v))
			}
		default:
			return dht.Get{}, badRequest("unknown query parameter %q (the parameters are maxvals, placemark and read)", truncate(name))
		}
	}
	if err := g.Validate(); err != nil {
		return dht.Get{}, bad(err)
	}
	return g, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// truncate bounds what an error text echoes of a client's input.
func truncate(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
