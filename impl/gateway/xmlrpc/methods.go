package xmlrpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
)

// Fault codes. The original gateway's codes were not part of its documented
// interface (clients read the text), so these follow the widely used
// "specification for fault code interoperability".
const (
	// FaultParse: the body is not a well-formed XML-RPC call.
	FaultParse = -32700
	// FaultUnknownMethod: no such method.
	FaultUnknownMethod = -32601
	// FaultBadParams: wrong argument count or type, or an argument the DHT
	// rejects (its text is the original one, e.g. "key is longer than 20
	// bytes").
	FaultBadParams = -32602
	// FaultInternal: the backend failed for a reason not caused by the
	// arguments (shutdown, timeout). A cas that fails so did not take
	// effect (gateway.RegisterBackend).
	FaultInternal = -32603
	// FaultOutcomeUnknown: a cas got no answer in time; it may or may not
	// have taken effect (CAS-11). Its text starts with
	// gateway.UnknownOutcomeText: the client must read the register before
	// it tries again. In the range the interoperability specification
	// leaves to servers.
	FaultOutcomeUnknown = -32000
)

// method is one entry of the method table: its argument names (for arity
// checks and fault texts) and its handler.
type method struct {
	args []string
	call func(ctx context.Context, b gateway.Backend, client dht.ClientID, a *args) (Value, error)
}

// methods is the original client API (spec/CLIENT-API.md). Every call
// ends with the application name, which is only logged.
var methods = map[string]method{
	"put": {
		args: []string{"key", "value", "ttl_sec", "application"},
		call: callPut,
	},
	"put_removable": {
		args: []string{"key", "value", "hash_alg", "secret_hash", "ttl_sec", "application"},
		call: callPutRemovable,
	},
	"get": {
		args: []string{"key", "maxvals", "placemark", "application"},
		call: func(ctx context.Context, b gateway.Backend, _ dht.ClientID, a *args) (Value, error) {
			return callGet(ctx, b, a, false, false)
		},
	},
	"get_details": {
		args: []string{"key", "maxvals", "placemark", "application"},
		call: func(ctx context.Context, b gateway.Backend, _ dht.ClientID, a *args) (Value, error) {
			return callGet(ctx, b, a, true, false)
		},
	},
	// Fast reads (spec/SPEC.md RD-14): get and get_details answered by the
	// first replica to answer, without read-your-acknowledged-writes. Not
	// in the original API, whose get and get_details keep RD-7 here.
	"get_fast": {
		args: []string{"key", "maxvals", "placemark", "application"},
		call: func(ctx context.Context, b gateway.Backend, _ dht.ClientID, a *args) (Value, error) {
			return callGet(ctx, b, a, false, true)
		},
	},
	"get_details_fast": {
		args: []string{"key", "maxvals", "placemark", "application"},
		call: func(ctx context.Context, b gateway.Backend, _ dht.ClientID, a *args) (Value, error) {
			return callGet(ctx, b, a, true, true)
		},
	},
	"rm": {
		args: []string{"key", "value_hash", "hash_alg", "secret", "ttl_sec", "application"},
		call: callRm,
	},
	// The versioned registers (spec/SPEC.md section 11): not in the
	// original API.
	"cas": {
		args: []string{"key", "expected", "value", "ttl_sec", "application"},
		call: callCAS,
	},
	"read": {
		args: []string{"key", "application"},
		call: callRead,
	},
}

// argError is a wrong argument: it becomes a FaultBadParams.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

// args reads the positional arguments of one call, converting liberally:
// binary arguments may come as <base64> or as a string holding base64,
// integers as <int>/<i4>/<i8>, an integral <double> or a decimal string.
// A handler reads them in order and asks done for the outcome: the first
// argument that is wrong is the one reported, so a reader after a failed
// one returns its zero value and leaves the error as it was.
type args struct {
	method string
	names  []string
	vals   []Value
	err    error // the first wrong argument, nil while all are right
}

func (a *args) bad(i int, format string, v ...any) error {
	return &argError{fmt.Sprintf("%s: argument %d (%s): %s", a.method, i+1, a.names[i], fmt.Sprintf(format, v...))}
}

// check records err as the call's error unless ok or an earlier argument
// was already wrong.
func (a *args) check(ok bool, err error) {
	if !ok && a.err == nil {
		a.err = err
	}
}

// done checks the last argument, the application name (only logged, as in
// the original), and returns the first error of the call's arguments.
func (a *args) done() error {
	a.string(len(a.vals) - 1)
	return a.err
}

func (a *args) bytes(i int) []byte {
	if a.err != nil {
		return nil
	}
	v := a.vals[i]
	switch v.Kind {
	case Base64:
		return v.Bytes
	case String:
		b, err := DecodeBase64(v.Str)
		if err != nil {
			a.err = a.bad(i, "%v", err)
		}
		return b
	}
	a.err = a.bad(i, "want base64, got %v", v.Kind)
	return nil
}

func (a *args) int(i int) int64 {
	if a.err != nil {
		return 0
	}
	v := a.vals[i]
	switch v.Kind {
	case Int:
		return v.Int
	case Double:
		if v.Double == math.Trunc(v.Double) && math.Abs(v.Double) < 1<<53 {
			return int64(v.Double)
		}
	case String:
		if n, err := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 64); err == nil {
			return n
		}
	}
	a.err = a.bad(i, "want int, got %v", v.Kind)
	return 0
}

// version reads a register version (an unsigned 64-bit integer): an
// integer, an integral <double> below 2^53, or a decimal string, which is
// how a client whose integers stop at 32 bits (Python's xmlrpc.client)
// sends a large one. A negative or too large number is out of range
// (CAS-8).
func (a *args) version(i int) uint64 {
	if a.err != nil {
		return 0
	}
	n, err := a.decodeVersion(i)
	a.err = err
	return n
}

func (a *args) decodeVersion(i int) (uint64, error) {
	v := a.vals[i]
	switch v.Kind {
	case Int:
		if v.Int < 0 {
			return 0, dht.ErrBadExpected
		}
		return uint64(v.Int), nil
	case Double:
		if v.Double == math.Trunc(v.Double) && math.Abs(v.Double) < 1<<53 {
			if v.Double < 0 {
				return 0, dht.ErrBadExpected
			}
			return uint64(v.Double), nil
		}
	case String:
		s := strings.TrimPrefix(strings.TrimSpace(v.Str), "+")
		n, err := strconv.ParseUint(s, 10, 64)
		if err == nil {
			return n, nil
		}
		if errors.Is(err, strconv.ErrRange) || strings.HasPrefix(s, "-") && isDigits(s[1:]) {
			return 0, dht.ErrBadExpected
		}
		return 0, a.bad(i, "want an int or a decimal string, got %q", truncate(v.Str))
	}
	return 0, a.bad(i, "want an int or a decimal string, got %v", v.Kind)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (a *args) string(i int) string {
	if a.err != nil {
		return ""
	}
	v := a.vals[i]
	if v.Kind != String {
		a.err = a.bad(i, "want string, got %v", v.Kind)
	}
	return v.Str
}

func (a *args) key(i int) dht.Key {
	b := a.bytes(i)
	if a.err != nil {
		return dht.Key{}
	}
	k, err := dht.ParseKey(b)
	a.err = err
	return k
}

// hash reads a SHA-1 hash; a string of another length is errBad.
func (a *args) hash(i int, errBad error) dht.Hash {
	b := a.bytes(i)
	if a.err != nil {
		return dht.Hash{}
	}
	h, ok := dht.ParseHash(b)
	a.check(ok, errBad)
	return h
}

// hashAlg checks a hash_alg argument: the original API knows SHA only.
func (a *args) hashAlg(i int) {
	s := a.string(i)
	a.check(strings.TrimSpace(s) == dht.HashAlgSHA, dht.ErrUnknownHashAlg)
}

func status(s dht.Status, err error) (Value, error) {
	if err != nil {
		return Value{}, err
	}
	if s == dht.StatusOverQuota { // the original statuses are 0-2 (AC-7)
		return Value{}, dht.ErrOverQuota
	}
	return IntValue(int64(s)), nil
}

// put validates p and puts it.
func put(ctx context.Context, b gateway.Backend, p dht.Put) (Value, error) {
	if err := p.Validate(); err != nil {
		return Value{}, err
	}
	return status(b.Put(ctx, p))
}

func callPut(ctx context.Context, b gateway.Backend, client dht.ClientID, a *args) (Value, error) {
	p := dht.Put{Client: client, Key: a.key(0), Value: a.bytes(1), TTL: a.int(2)}
	if err := a.done(); err != nil {
		return Value{}, err
	}
	return put(ctx, b, p)
}

func callPutRemovable(ctx context.Context, b gateway.Backend, client dht.ClientID, a *args) (Value, error) {
	p := dht.Put{Client: client, Key: a.key(0), Value: a.bytes(1)}
	a.hashAlg(2)
	p.SecretHash = a.hash(3, dht.ErrBadSecretHash)
	a.check(!p.SecretHash.IsZero(), dht.ErrZeroSecretHash)
	p.TTL = a.int(4)
	if err := a.done(); err != nil {
		return Value{}, err
	}
	return put(ctx, b, p)
}

func callRm(ctx context.Context, b gateway.Backend, client dht.ClientID, a *args) (Value, error) {
	r := dht.Remove{Client: client, Key: a.key(0), ValueHash: a.hash(1, dht.ErrBadValueHash)}
	a.hashAlg(2)
	r.Secret, r.TTL = a.bytes(3), a.int(4)
	if err := a.done(); err != nil {
		return Value{}, err
	}
	if err := r.Validate(); err != nil {
		return Value{}, err
	}
	return status(b.Remove(ctx, r))
}

// VersionValue encodes a register version: an <int> (i4) when it fits in
// 32 bits, an <i8> when it fits in 63, else a decimal <string> (no
// register gets there: a version counts successful cas, CAS-10).
func VersionValue(v uint64) Value {
	if v > math.MaxInt64 {
		return StringValue(strconv.FormatUint(v, 10))
	}
	return IntValue(int64(v))
}

// callCAS serves cas(key, expected, value, ttl_sec, application) ->
// {ok: boolean, version, value: base64} (CAS-3): on success the new
// version and value, on failure the current ones.
func callCAS(ctx context.Context, b gateway.Backend, _ dht.ClientID, a *args) (Value, error) {
	rb, err := gateway.Registers(b)
	if err != nil {
		return Value{}, err
	}
	c := dht.CAS{Key: a.key(0), Expected: a.version(1), Value: a.bytes(2), TTL: a.int(3)}
	if err := a.done(); err != nil {
		return Value{}, err
	}
	if err := c.Validate(); err != nil {
		return Value{}, err
	}
	res, err := rb.CAS(ctx, c)
	if err != nil {
		if gateway.RequestError(err) == nil && gateway.IsTimeout(err) {
			return Value{}, &unknownOutcome{err}
		}
		return Value{}, err
	}
	return Value{Kind: Struct, Members: []Member{
		{Name: "ok", Value: Value{Kind: Bool, Bool: res.OK}},
		{Name: "version", Value: VersionValue(res.Version)},
		{Name: "value", Value: Base64Value(res.Value)},
	}}, nil
}

// callRead serves read(key, application) -> {version, value: base64}
// (CAS-7); version 0 and the empty value for an absent register. A read
// changes nothing, so a read that times out is a plain failure: the client
// may try again.
func callRead(ctx context.Context, b gateway.Backend, _ dht.ClientID, a *args) (Value, error) {
	rb, err := gateway.Registers(b)
	if err != nil {
		return Value{}, err
	}
	key := a.key(0)
	if err := a.done(); err != nil {
		return Value{}, err
	}
	v, err := rb.ReadRegister(ctx, key)
	if err != nil {
		return Value{}, err
	}
	return Value{Kind: Struct, Members: []Member{
		{Name: "version", Value: VersionValue(v.Version)},
		{Name: "value", Value: Base64Value(v.Value)},
	}}, nil
}

// unknownOutcome is a cas the backend did not answer in time: it becomes
// a FaultOutcomeUnknown.
type unknownOutcome struct{ err error }

func (e *unknownOutcome) Error() string { return e.err.Error() }

// callGet serves get and get_details: [[values], placemark] or
// [[[value, ttl_remaining, hash_alg, secret_hash], ...], placemark]. An
// unremovable value has hash_alg "" and an empty secret_hash, as in the
// Sun RPC interface.
func callGet(ctx context.Context, b gateway.Backend, a *args, details, fast bool) (Value, error) {
	key, maxvals := a.key(0), a.int(1)
	pm := a.bytes(2)
	a.check(len(pm) <= dht.MaxPlacemarkLen, dht.ErrBadPlacemark)
	if err := a.done(); err != nil {
		return Value{}, err
	}
	g := dht.Get{Key: key, MaxVals: int(min(maxvals, math.MaxInt32)), Placemark: pm, Fast: fast}
	if err := g.Validate(); err != nil {
		return Value{}, err
	}
	rep, err := b.Get(ctx, g)
	if err != nil {
		return Value{}, err
	}
	vals := make([]Value, 0, len(rep.Values))
	for _, v := range rep.Values {
		if !details {
			vals = append(vals, Base64Value(v.Value))
			continue
		}
		var sh []byte
		if v.HashAlg() != "" {
			sh = v.SecretHash[:]
		}
		vals = append(vals, ArrayValue(
			Base64Value(v.Value), IntValue(v.TTLRemaining), StringValue(v.HashAlg()), Base64Value(sh)))
	}
	return ArrayValue(ArrayValue(vals...), Base64Value(rep.Placemark)), nil
}

// Dispatch executes one parsed call for client and returns the response
// value or a fault. It is the server without HTTP.
func Dispatch(ctx context.Context, b gateway.Backend, client dht.ClientID, mc *MethodCall) (Value, *Fault) {
	m, ok := methods[mc.Method]
	if !ok {
		return Value{}, &Fault{Code: FaultUnknownMethod, String: fmt.Sprintf("unknown method %q", truncate(mc.Method))}
	}
	if len(mc.Params) != len(m.args) {
		return Value{}, &Fault{Code: FaultBadParams, String: fmt.Sprintf("%s takes %d arguments (%s), got %d",
			mc.Method, len(m.args), strings.Join(m.args, ", "), len(mc.Params))}
	}
	v, err := m.call(ctx, b, client, &args{method: mc.Method, names: m.args, vals: mc.Params})
	if err == nil {
		return v, nil
	}
	var ae *argError
	if errors.As(err, &ae) {
		return Value{}, &Fault{Code: FaultBadParams, String: ae.msg}
	}
	if re := gateway.RequestError(err); re != nil {
		return Value{}, &Fault{Code: FaultBadParams, String: re.Error()}
	}
	var uo *unknownOutcome
	if errors.As(err, &uo) {
		return Value{}, &Fault{Code: FaultOutcomeUnknown, String: fmt.Sprintf("%s (%s: %v)", gateway.UnknownOutcomeText, mc.Method, uo.err)}
	}
	if errors.Is(err, gateway.ErrNoRegisters) {
		return Value{}, &Fault{Code: FaultUnknownMethod, String: fmt.Sprintf("%s: %v", mc.Method, err)}
	}
	return Value{}, &Fault{Code: FaultInternal, String: fmt.Sprintf("%s failed: %v", mc.Method, err)}
}
