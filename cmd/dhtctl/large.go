package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/largevalue"
)

// Large values (spec/SPEC.md section 17): put --file and get --output move
// a file of any size through the large-value layer, which this process
// runs over the gateways' put and get. --timeout bounds each call then,
// not the whole transfer.

// progress returns a progress bar on standard error for a transfer of
// size bytes (-1: unknown), or nil when standard error is not a terminal
// or the output is JSON.
func (g *globals) progress(size int64, what string) *progressbar.ProgressBar {
	if g.jsonOut || g.stderr == nil || !term.IsTerminal(int(g.stderr.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(g.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// largeClient runs f with a client whose context has no overall deadline:
// a large transfer takes as long as its bytes need, each call bounded by
// --timeout.
func (g *globals) largeClient(cmd *cobra.Command, f func(context.Context, *client.Client) error) error {
	cfg, err := g.config()
	if err != nil {
		return err
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(cmd.Context(), c)
}

// putFile stores the file (or standard input for "-") under key as a large
// value.
func (g *globals) putFile(cmd *cobra.Command, key dht.Key, path, secret string, ttl time.Duration) error {
	var r io.Reader = g.stdin
	size := int64(-1)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return usageError{Err: fmt.Errorf("--file: %w", err)}
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		r = f
	}
	bar := g.progress(size, "put")
	if bar != nil {
		pr := progressbar.NewReader(r, bar)
		r = &pr
		defer bar.Close() //nolint:errcheck
	}
	return g.largeClient(cmd, func(ctx context.Context, c *client.Client) error {
		var info client.LargeInfo
		var err error
		if secret != "" {
			info, err = c.PutLargeRemovable(ctx, key, r, []byte(secret), ttl)
		} else {
			info, err = c.PutLarge(ctx, key, r, ttl)
		}
		if bar != nil {
			_ = bar.Finish()
		}
		return g.largeResult("put", key, info, err)
	})
}

// largeResult reports a large put's outcome.
func (g *globals) largeResult(op string, key dht.Key, info client.LargeInfo, err error) error {
	if err != nil {
		if g.jsonOut {
			_ = g.printJSON(map[string]any{"op": op, "key": key.String(), "error": err.Error()})
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if g.jsonOut {
		return g.printJSON(map[string]any{"op": op, "key": key.String(), "status": 0, "result": "success",
			"size": info.Size, "blocks": info.Blocks, "ttl": int64(info.TTL / time.Second), "version": info.Version.String()})
	}
	fmt.Fprintf(g.out, "%s %s: success (status 0) size=%d blocks=%d ttl=%ds version=%s\n", op, key, info.Size, info.Blocks,
		int64(info.TTL/time.Second), info.Version)
	return nil
}

// getFile writes the large value under key to path (standard output for
// "-"). A file is written beside path and renamed over it only when the
// whole value was read and checked, so a failed read leaves no partial
// file (LV-4).
func (g *globals) getFile(cmd *cobra.Command, key dht.Key, path string) error {
	var w io.Writer = g.out
	var tmp *os.File
	if path != "-" {
		var err error
		tmp, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
		if err != nil {
			return usageError{Err: fmt.Errorf("--output: %w", err)}
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	var bar *progressbar.ProgressBar
	err := g.largeClient(cmd, func(ctx context.Context, c *client.Client) error {
		out := w
		info, err := c.GetLargeStarted(ctx, key, writerFunc(func(b []byte) (int, error) { return out.Write(b) }), func(i client.LargeInfo) {
			if bar = g.progress(i.Size, "get"); bar != nil {
				out = io.MultiWriter(w, bar)
			}
		})
		if bar != nil {
			_ = bar.Finish()
			_ = bar.Close()
		}
		if err != nil {
			if errors.Is(err, largevalue.ErrNotFound) {
				return fmt.Errorf("get %s: no large value under this key", key)
			}
			return fmt.Errorf("get %s: %w", key, err)
		}
		if tmp == nil {
			return nil
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return err
		}
		tmp = nil
		if g.jsonOut {
			return g.printJSON(map[string]any{"op": "get", "key": key.String(), "size": info.Size, "ttl_remaining": int64(info.TTL / time.Second),
				"version": info.Version.String(), "output": path})
		}
		fmt.Fprintf(g.out, "get %s: %d bytes to %s (ttl=%ds version=%s)\n", key, info.Size, path, int64(info.TTL/time.Second), info.Version)
		return nil
	})
	return err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// removeLarge removes the large value under key put with secret.
func (g *globals) removeLarge(cmd *cobra.Command, key dht.Key, secret string) error {
	return g.largeClient(cmd, func(ctx context.Context, c *client.Client) error {
		err := c.RemoveLarge(ctx, key, []byte(secret))
		if err != nil {
			return fmt.Errorf("rm %s: %w", key, err)
		}
		if g.jsonOut {
			return g.printJSON(map[string]any{"op": "rm", "key": key.String(), "status": 0, "result": "success"})
		}
		fmt.Fprintf(g.out, "rm %s: success (status 0)\n", key)
		return nil
	})
}
