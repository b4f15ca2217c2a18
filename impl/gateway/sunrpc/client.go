package sunrpc

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// Client calls a gateway over one TCP connection, one call at a time. It
// is safe for concurrent use; calls are serialised.
type Client struct {
	// MaxReplySize bounds a reply record, in bytes. Dial sets 4 MiB, enough
	// for a get of a few thousand maximal values.
	MaxReplySize int

	mu   sync.Mutex
	conn net.Conn
	xid  uint32
}

// Dial connects to the gateway at the TCP address addr.
func Dial(addr string) (*Client, error) {
	return DialContext(context.Background(), addr)
}

// DialContext connects to the gateway at addr within ctx.
func DialContext(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewClient(c), nil
}

// NewClient returns a client on an open connection.
func NewClient(c net.Conn) *Client {
	return &Client{conn: c, MaxReplySize: 4 << 20, xid: uint32(time.Now().UnixNano())}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Null calls version 3's NULL procedure: a ping.
func (c *Client) Null(ctx context.Context) error { return c.NullVersion(ctx, Version3) }

// NullVersion calls NULL of version vers: it tells whether the server
// serves that version.
func (c *Client) NullVersion(ctx context.Context, vers uint32) error {
	res, err := c.Call(ctx, vers, ProcNull, nil)
	if err == nil && len(res) != 0 {
		err = fmt.Errorf("%w: %d bytes of results for NULL", ErrBadReply, len(res))
	}
	return err
}

// Put calls version 3's PUT.
func (c *Client) Put(ctx context.Context, a PutArgs) (dht.Status, error) {
	return c.statusCall(ctx, Version3, ProcPut, a.MarshalXDR())
}

// PutV2 calls version 2's PUT: a put without a secret.
func (c *Client) PutV2(ctx context.Context, a PutArgsV2) (dht.Status, error) {
	return c.statusCall(ctx, Version2, ProcPut, a.MarshalXDR())
}

// Remove calls version 3's RM.
func (c *Client) Remove(ctx context.Context, a RmArgs) (dht.Status, error) {
	return c.statusCall(ctx, Version3, ProcRm, a.MarshalXDR())
}

// Get calls version 3's GET: values with their details.
func (c *Client) Get(ctx context.Context, a GetArgs) (GetResult, error) {
	var r GetResult
	return r, c.decodeCall(ctx, Version3, ProcGet, a.MarshalXDR(), &r)
}

// GetV2 calls version 2's GET: bare values.
func (c *Client) GetV2(ctx context.Context, a GetArgs) (GetResultV2, error) {
	var r GetResultV2
	return r, c.decodeCall(ctx, Version2, ProcGet, a.MarshalXDR(), &r)
}

func (c *Client) decodeCall(ctx context.Context, vers, proc uint32, args []byte, out interface{ UnmarshalXDR([]byte) error }) error {
	res, err := c.Call(ctx, vers, proc, args)
	if err != nil {
		return err
	}
	if err := out.UnmarshalXDR(res); err != nil {
		return fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return nil
}

func (c *Client) statusCall(ctx context.Context, vers, proc uint32, args []byte) (dht.Status, error) {
	res, err := c.Call(ctx, vers, proc, args)
	if err != nil {
		return 0, err
	}
	st, err := decodeStatus(res)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return st, nil
}

// Call sends procedure proc of program version vers with XDR-encoded
// args, AUTH_NONE credentials, and returns the results of a SUCCESS reply;
// any other reply is one of this package's errors (ErrProgMismatch,
// ErrProcUnavail, ErrGarbageArgs, ...).
func (c *Client) Call(ctx context.Context, vers, proc uint32, args []byte) ([]byte, error) {
	return c.call(ctx, callHeader{rpcvers: rpcVersion, prog: Program, vers: vers, proc: proc}, args)
}

// call sends one call and returns the results of a SUCCESS reply. The
// header's xid is set here. After a transport error the connection is in
// an unknown state; the caller should Close the client.
func (c *Client) call(ctx context.Context, h callHeader, args []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.xid++
	h.xid = c.xid
	return c.roundTrip(ctx, h.xid, encodeCall(h, args))
}

// roundTrip writes msg as one record and reads the reply to xid.
func (c *Client) roundTrip(ctx context.Context, xid uint32, msg []byte) ([]byte, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{}
	}
	c.conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := writeRecord(c.conn, msg); err != nil {
		return nil, err
	}
	rep, err := readRecord(c.conn, c.MaxReplySize, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return decodeReply(xid, rep)
}
