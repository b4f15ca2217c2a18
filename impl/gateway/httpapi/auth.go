package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
)

// The authenticated operations (spec/SPEC.md section 18), beside the
// original ones, which they leave unchanged:
//
//	POST   /api/v1/immutable?hash=SHA1|SHA256  {"value", "ttl", "application"}
//	       -> {"status", "result", "key": hex}
//	GET    /api/v1/immutable/{key}?hash=SHA1|SHA256 -> {"value"} or 404
//	POST   /api/v1/signed/{key}  {"public_key", "name", "value", "seq", "expires", "signature", "application"}
//	DELETE /api/v1/signed/{key}  the same without "value": a signed remove (SG-7)
//	GET    /api/v1/signed/{key}  -> {"found", "removed", "public_key", "name_hash", "seq", "expires", "value", "signature"}
//
// Binary fields are base64; seq is a number or a decimal string; expires is
// Unix seconds; the key in the path must be the record's key (SG-2).

// ImmutablePutResponse answers POST /api/v1/immutable.
type ImmutablePutResponse struct {
	WriteResponse
	Key string `json:"key"`
}

// ImmutableGetResponse answers GET /api/v1/immutable/{key}.
type ImmutableGetResponse struct {
	Value string `json:"value"`
}

// SignedRecord is a signed record in the JSON API (SG-4).
type SignedRecord struct {
	Found     bool   `json:"found"`
	Removed   bool   `json:"removed"`
	PublicKey string `json:"public_key"`
	NameHash  string `json:"name_hash"`
	Seq       string `json:"seq"`
	Expires   int64  `json:"expires"`
	Value     string `json:"value"`
	Signature string `json:"signature"`
}

type signedRequest struct {
	PublicKey   string          `json:"public_key"`
	Name        string          `json:"name"`
	Value       *string         `json:"value"`
	Seq         json.RawMessage `json:"seq"`
	Expires     int64           `json:"expires"`
	Signature   string          `json:"signature"`
	Application *string         `json:"application"`
}

type immutableRequest struct {
	Value       string          `json:"value"`
	TTL         json.RawMessage `json:"ttl"`
	Application *string         `json:"application"`
}

// serveAuth routes the authenticated endpoints; it reports false for a
// path that is not one of them.
func (h *Handler) serveAuth(w http.ResponseWriter, r *http.Request, rest string) bool {
	switch {
	case rest == "immutable":
		if h.allow(w, r, "POST", http.MethodPost) {
			h.putImmutable(w, r)
		}
	case strings.HasPrefix(rest, "immutable/") && !strings.Contains(rest[len("immutable/"):], "/"):
		if !h.allow(w, r, "GET, HEAD", http.MethodGet, http.MethodHead) {
			return true
		}
		key, err := parseKey(rest[len("immutable/"):])
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, err.Error())
			return true
		}
		h.getImmutable(w, r, key)
	case strings.HasPrefix(rest, "signed/") && !strings.Contains(rest[len("signed/"):], "/"):
		if !h.allow(w, r, "GET, HEAD, POST, DELETE", http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete) {
			return true
		}
		key, err := parseKey(rest[len("signed/"):])
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, err.Error())
			return true
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h.getSigned(w, r, key)
		} else {
			h.putSigned(w, r, key, r.Method == http.MethodDelete)
		}
	default:
		return false
	}
	return true
}

func hashQuery(r *http.Request) (dht.ImmutableAlg, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, badRequest("query is malformed")
	}
	for k := range q {
		if k != "hash" {
			return 0, badRequest("unknown query parameter %q (the parameter is hash)", truncate(k))
		}
	}
	alg, err := dht.ParseImmutableAlg(q.Get("hash"))
	if err != nil {
		return 0, bad(err)
	}
	return alg, nil
}

func (h *Handler) putImmutable(w http.ResponseWriter, r *http.Request) {
	alg, err := hashQuery(r)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	body, ok := h.body(w, r)
	if !ok {
		return
	}
	var req immutableRequest
	if err := decodeBody(body, &req, `"value", "ttl", "application"`); err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	val, err := decodeBase64("value", req.Value, dht.MaxValueLen, dht.ErrValueTooLong)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	t, err := ttl(req.TTL)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	key, st, err := gateway.PutImmutable(ctx, h.b, alg, val, t, gateway.ClientOf(r))
	if err != nil || st != dht.StatusOK {
		h.written(w, r, "put_immutable", st, err)
		return
	}
	h.reply(w, http.StatusOK, ImmutablePutResponse{WriteResponse{Status: 0, Result: "success"}, key.String()})
}

func (h *Handler) getImmutable(w http.ResponseWriter, r *http.Request, key dht.Key) {
	alg, err := hashQuery(r)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	v, found, err := gateway.GetImmutable(ctx, h.b, alg, key)
	switch {
	case err != nil:
		h.failed(w, r, "get_immutable", err)
	case !found:
		h.fail(w, r, http.StatusNotFound, "no immutable value under this key")
	default:
		h.reply(w, http.StatusOK, ImmutableGetResponse{Value: base64.StdEncoding.EncodeToString(v)})
	}
}

func (h *Handler) putSigned(w http.ResponseWriter, r *http.Request, key dht.Key, remove bool) {
	if !h.noQuery(w, r) {
		return
	}
	body, ok := h.body(w, r)
	if !ok {
		return
	}
	rec, err := decodeSigned(body, remove)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if rec.Key() != key {
		h.fail(w, r, http.StatusBadRequest, dht.ErrRecordOwner.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	st, err := gateway.PutSigned(ctx, h.b, rec, gateway.ClientOf(r))
	op := "put_signed"
	if remove {
		op = "rm_signed"
	}
	h.written(w, r, op, st, err)
}

func decodeSigned(body []byte, remove bool) (dht.Record, error) {
	var req signedRequest
	fields := `"public_key", "name", "value", "seq", "expires", "signature", "application"`
	if err := decodeBody(body, &req, fields); err != nil {
		return dht.Record{}, err
	}
	pub, err := decodeBase64("public_key", req.PublicKey, ed25519.PublicKeySize, dht.ErrRecordMalformed)
	if err != nil {
		return dht.Record{}, err
	}
	if len(pub) != ed25519.PublicKeySize {
		return dht.Record{}, badRequest("public_key must be %d bytes", ed25519.PublicKeySize)
	}
	name, err := decodeBase64("name", req.Name, dht.MaxValueLen, dht.ErrValueTooLong)
	if err != nil {
		return dht.Record{}, err
	}
	sig, err := decodeBase64("signature", req.Signature, ed25519.SignatureSize, dht.ErrRecordMalformed)
	if err != nil {
		return dht.Record{}, err
	}
	seq, err := jsonVersion("seq", req.Seq)
	if err != nil {
		return dht.Record{}, err
	}
	rec := dht.Record{PublicKey: pub, NameHash: dht.SHA1(name), Seq: seq, Expires: dht.Time(req.Expires), Signature: sig, Removed: remove}
	switch {
	case remove && req.Value != nil:
		return dht.Record{}, badRequest("a signed remove has no value")
	case !remove && req.Value == nil:
		return dht.Record{}, badRequest("value is required")
	case !remove:
		rec.Value, err = decodeBase64("value", *req.Value, dht.MaxSignedValueLen, dht.ErrSignedValueTooBig)
		if err != nil {
			return dht.Record{}, err
		}
	}
	return rec, nil
}

func (h *Handler) getSigned(w http.ResponseWriter, r *http.Request, key dht.Key) {
	if !h.noQuery(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	rec, found, err := gateway.GetSigned(ctx, h.b, key)
	if err != nil {
		h.failed(w, r, "get_signed", err)
		return
	}
	b64 := base64.StdEncoding.EncodeToString
	h.reply(w, http.StatusOK, SignedRecord{Found: found, Removed: rec.Removed, PublicKey: b64(rec.PublicKey),
		NameHash: b64(rec.NameHash[:]), Seq: strconv.FormatUint(rec.Seq, 10), Expires: int64(rec.Expires),
		Value: b64(rec.Value), Signature: b64(rec.Signature)})
}
