package cddb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServerConfig configures the cddbp and HTTP front ends.
type ServerConfig struct {
	// Host names the server in banners and goodbyes.
	Host string
	// CommandTimeout bounds the DB's work for one command.
	CommandTimeout time.Duration
	// IdleTimeout closes a cddbp connection that sends nothing this long.
	IdleTimeout time.Duration
	// MaxConns bounds the cddbp connections served at once; more are
	// refused with 433.
	MaxConns int
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// DefaultServerConfig returns the defaults: a query through the DHT takes
// a few round trips, so 30 s leaves room for retries; clients of the
// legacy protocol idle between query and read, so 5 minutes.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{Host: "food", CommandTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute, MaxConns: 256}
}

// Validate rejects nonsense.
func (c ServerConfig) Validate() error {
	switch {
	case c.Host == "" || strings.ContainsAny(c.Host, " \r\n"):
		return fmt.Errorf("cddb: host name %q must be one word", c.Host)
	case c.CommandTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("cddb: timeouts must be positive")
	case c.MaxConns < 1:
		return fmt.Errorf("cddb: max conns must be at least 1, got %d", c.MaxConns)
	}
	return nil
}

func (c ServerConfig) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// ServeCDDBP answers cddbp connections on ln until ctx ends (FOOD-9): a
// banner "201 host CDDBP server ... ready", then one answer per command
// line.
func ServeCDDBP(ctx context.Context, ln net.Listener, db DB, cfg ServerConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, cfg.MaxConns)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		default:
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = fmt.Fprintf(conn, "433 No connections allowed: %d users allowed, %d currently active.\r\n", cfg.MaxConns, cfg.MaxConns)
			_ = conn.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			serveConn(ctx, conn, db, cfg)
		})
	}
}

func serveConn(ctx context.Context, conn net.Conn, db DB, cfg ServerConfig) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	s := &Session{DB: db, Host: cfg.Host, Level: DefaultLevel}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "201 %s CDDBP server food v1 ready at %s\r\n", cfg.Host, time.Now().UTC().Format("Mon Jan 02 15:04:05 2006"))
	if w.Flush() != nil {
		return
	}
	r := bufio.NewReaderSize(conn, 4096)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		line, err := readLine(r, MaxCommandLen)
		if errors.Is(err, errLineTooLong) {
			line = strings.Repeat("x", MaxCommandLen+1) // answered "500 Input too long."
		} else if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				fmt.Fprintf(w, "530 %s Inactivity timeout after %d seconds, closing connection.\r\n", cfg.Host, int(cfg.IdleTimeout/time.Second))
				_ = w.Flush()
			}
			return
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.CommandTimeout)
		ans, quit := s.Do(cctx, line)
		cancel()
		_ = conn.SetWriteDeadline(time.Now().Add(cfg.IdleTimeout))
		if _, err := w.Write(ans); err != nil || w.Flush() != nil {
			return
		}
		if quit {
			return
		}
	}
}

var errLineTooLong = errors.New("cddb: line too long")

// readLine reads one line of at most max bytes (without its CR LF). A
// longer line is consumed whole and reported as errLineTooLong.
func readLine(r *bufio.Reader, max int) (string, error) {
	var sb strings.Builder
	long := false
	for {
		frag, isPrefix, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		if !long {
			if sb.Len()+len(frag) > max {
				long = true
				sb.Reset()
			} else {
				sb.Write(frag)
			}
		}
		if !isPrefix {
			break
		}
	}
	if long {
		return "", errLineTooLong
	}
	return sb.String(), nil
}

// HTTPHandler serves the HTTP form of the protocol (FOOD-12): GET or POST
// of cmd, hello and proto to any path (clients use /~cddb/cddb.cgi). The
// answer is text/plain, HTTP status 200 whatever the CDDB status, as
// cddb.cgi answered.
func HTTPHandler(db DB, cfg ServerConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		s := &Session{DB: db, Host: cfg.Host, Level: DefaultLevel, HTTP: true}
		answer := func(text string) {
			charset := "ISO-8859-1"
			body := ToLatin1(text)
			if s.Level >= 6 {
				charset, body = "UTF-8", []byte(text)
			}
			w.Header().Set("Content-Type", "text/plain; charset="+charset)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		}
		if p := r.Form.Get("proto"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < MinLevel || n > MaxLevel {
				answer("501 Illegal CDDB protocol level.\r\n")
				return
			}
			s.Level = n
		}
		if h := r.Form.Get("hello"); h != "" && !s.SetHello(h) {
			answer("500 Command syntax error: incorrect number of arguments in hello.\r\n")
			return
		}
		cmd := r.Form.Get("cmd")
		if strings.TrimSpace(cmd) == "" {
			answer("500 Command syntax error: no cmd.\r\n")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), cfg.CommandTimeout)
		defer cancel()
		ans, _ := s.Do(ctx, cmd)
		if s.Level >= 6 {
			answer(string(ans))
		} else {
			// Do already wrote ISO-8859-1: send its bytes unchanged.
			w.Header().Set("Content-Type", "text/plain; charset=ISO-8859-1")
			w.Header().Set("Content-Length", strconv.Itoa(len(ans)))
			_, _ = w.Write(ans)
		}
		cfg.log().Debug("cddb http", "cmd", cmd, "level", s.Level)
	})
}
