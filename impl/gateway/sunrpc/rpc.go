package sunrpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ONC RPC message constants (RFC 5531 section 9).
const (
	rpcVersion = 2

	msgCall  = 0
	msgReply = 1

	replyAccepted = 0
	replyDenied   = 1

	acceptSuccess      = 0
	acceptProgUnavail  = 1
	acceptProgMismatch = 2
	acceptProcUnavail  = 3
	acceptGarbageArgs  = 4
	acceptSystemErr    = 5

	rejectRPCMismatch = 0
	rejectAuthError   = 1

	authNone = 0
	authSys  = 1

	authBadCred = 1

	// maxAuthBody is the bound RFC 5531 puts on an opaque_auth body.
	maxAuthBody = 400

	// lastFragment marks the last fragment of a record (RFC 5531 section 11).
	lastFragment = 1 << 31
)

// Errors a call can end with. The client wraps them with the call's details.
var (
	ErrRecordTooLarge = errors.New("sunrpc: record larger than the limit")
	ErrProgUnavail    = errors.New("sunrpc: program unavailable")
	ErrProgMismatch   = errors.New("sunrpc: program version mismatch")
	ErrProcUnavail    = errors.New("sunrpc: procedure unavailable")
	ErrGarbageArgs    = errors.New("sunrpc: server could not decode the arguments")
	ErrSystemErr      = errors.New("sunrpc: server system error")
	ErrRPCMismatch    = errors.New("sunrpc: RPC version mismatch")
	ErrAuth           = errors.New("sunrpc: authentication error")
	ErrBadReply       = errors.New("sunrpc: malformed reply")
	// ErrSpeaksHTTP: the server answered in HTTP, so the port is an HTTP
	// one (an XML-RPC or JSON gateway), not Sun RPC.
	ErrSpeaksHTTP = errors.New("sunrpc: this port speaks HTTP, not Sun RPC (an XML-RPC or JSON gateway, on the node's port + 1? use that protocol, or the Sun RPC port, + 2)")
	// ErrHTTPRequest: a client sent an HTTP request to the Sun RPC port.
	ErrHTTPRequest = errors.New("sunrpc: an HTTP request on the Sun RPC port")
)

// httpMethods are the first four bytes of HTTP requests. No Sun RPC
// record starts with one: its first byte would say the record is not the
// last fragment, and its length would be over a gigabyte.
var httpMethods = []string{"GET ", "POST", "HEAD", "PUT ", "DELE", "OPTI", "PATC", "CONN", "TRAC"}

// sniff recognises HTTP where a record mark should be.
func sniff(hdr [4]byte) error {
	h := string(hdr[:])
	if h == "HTTP" {
		return ErrSpeaksHTTP
	}
	for _, m := range httpMethods {
		if h == m {
			return ErrHTTPRequest
		}
	}
	return nil
}

// HTTPRefusal is what the Sun RPC gateway answers an HTTP request with
// before it closes the connection: an HTTP client (a browser, curl, an
// XML-RPC library) shows the reason.
const HTTPRefusal = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"this port speaks Sun RPC (ONC RPC over TCP), not HTTP: the XML-RPC gateway, the HTTP/JSON API and the status page are on the node's port + 1\n"

// readRecord reads one record (all fragments up to the last) and returns
// it. A fragment that would take the record past max is rejected from its
// header, before its bytes are read or allocated.
func readRecord(r io.Reader, max int, first func()) ([]byte, error) {
	var rec []byte
	var hdr [4]byte
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if i == 0 {
			if err := sniff(hdr); err != nil {
				return nil, err
			}
			if first != nil {
				first()
			}
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h &^ lastFragment)
		if n > max-len(rec) {
			return nil, fmt.Errorf("%w: %d bytes after %d, limit %d", ErrRecordTooLarge, n, len(rec), max)
		}
		start := len(rec)
		rec = append(rec, make([]byte, n)...)
		if _, err := io.ReadFull(r, rec[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if h&lastFragment != 0 {
			return rec, nil
		}
	}
}

// writeRecord writes msg as a single-fragment record.
func writeRecord(w io.Writer, msg []byte) error {
	b, err := appendRecord(make([]byte, 0, 4+len(msg)), msg)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// appendRecord appends msg as a single-fragment record to dst.
func appendRecord(dst, msg []byte) ([]byte, error) {
	if len(msg) >= lastFragment {
		return dst, fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, len(msg))
	}
	dst = binary.BigEndian.AppendUint32(dst, lastFragment|uint32(len(msg)))
	return append(dst, msg...), nil
}

// callHeader is the part of an RPC call message before the arguments.
type callHeader struct {
	xid, rpcvers, prog, vers, proc uint32
	credFlavor                     uint32
}

// encodeCall returns a call message with AUTH_NONE credentials.
func encodeCall(h callHeader, args []byte) []byte {
	w := xdrWriter{b: make([]byte, 0, 40+len(args))}
	w.uint32(h.xid)
	w.uint32(msgCall)
	w.uint32(h.rpcvers)
	w.uint32(h.prog)
	w.uint32(h.vers)
	w.uint32(h.proc)
	w.uint32(h.credFlavor) // cred
	w.opaque(nil)
	w.uint32(authNone) // verf
	w.opaque(nil)
	w.b = append(w.b, args...)
	return w.b
}

// acceptedReply returns an accepted reply with a null verifier; body
// follows the accept_stat (results, or mismatch_info).
func acceptedReply(xid uint32, stat uint32, body []byte) []byte {
	w := xdrWriter{b: make([]byte, 0, 24+len(body))}
	w.uint32(xid)
	w.uint32(msgReply)
	w.uint32(replyAccepted)
	w.uint32(authNone)
	w.opaque(nil)
	w.uint32(stat)
	w.b = append(w.b, body...)
	return w.b
}

// deniedReply returns a rejected reply; body follows the reject_stat.
func deniedReply(xid uint32, stat uint32, body ...uint32) []byte {
	var w xdrWriter
	w.uint32(xid)
	w.uint32(msgReply)
	w.uint32(replyDenied)
	w.uint32(stat)
	for _, v := range body {
		w.uint32(v)
	}
	return w.b
}

// decodeReply checks a reply to call xid and returns its results.
func decodeReply(xid uint32, msg []byte) ([]byte, error) {
	r := xdrReader{b: msg}
	gotXID, mtype, stat := r.uint32(), r.uint32(), r.uint32()
	if r.err != nil || mtype != msgReply {
		return nil, ErrBadReply
	}
	if gotXID != xid {
		return nil, fmt.Errorf("%w: xid %d, want %d", ErrBadReply, gotXID, xid)
	}
	switch stat {
	case replyAccepted:
		r.uint32() // verifier flavor
		r.opaque(maxAuthBody, "verifier")
		astat := r.uint32()
		if r.err != nil {
			return nil, ErrBadReply
		}
		switch astat {
		case acceptSuccess:
			return msg[r.off:], nil
		case acceptProgUnavail:
			return nil, ErrProgUnavail
		case acceptProgMismatch:
			lo, hi := r.uint32(), r.uint32()
			return nil, fmt.Errorf("%w: server has %d..%d", ErrProgMismatch, lo, hi)
		case acceptProcUnavail:
			return nil, ErrProcUnavail
		case acceptGarbageArgs:
			return nil, ErrGarbageArgs
		case acceptSystemErr:
			return nil, ErrSystemErr
		}
	case replyDenied:
		switch r.uint32() {
		case rejectRPCMismatch:
			lo, hi := r.uint32(), r.uint32()
			return nil, fmt.Errorf("%w: server has %d..%d", ErrRPCMismatch, lo, hi)
		case rejectAuthError:
			return nil, fmt.Errorf("%w: auth_stat %d", ErrAuth, r.uint32())
		}
	}
	return nil, ErrBadReply
}
