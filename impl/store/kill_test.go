package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

const childEnv = "OPENDHT_STORE_KILL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		killChild(dir)
		return
	}
	code := m.Run()
	if loaded.s != nil { // the get benchmarks' shared store
		_ = loaded.s.Close()
		_ = os.RemoveAll(loaded.dir)
	}
	os.Exit(code)
}

func wallNow() dht.Time { return dht.Time(time.Now().Unix()) }

func killKey(i int) dht.Key {
	return dht.Key{0: 1, 16: byte(i >> 24), 17: byte(i >> 16), 18: byte(i >> 8), 19: byte(i)}
}

// killChild writes until it is killed, from 8 goroutines so that group
// commit is in play, and prints one line per acknowledged write.
func killChild(dir string) {
	base, _ := strconv.Atoi(os.Getenv(childEnv + "_BASE"))
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	d := newDriver(s)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := base + g; ; i += 8 {
				op := dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: "127.0.0.1", Key: killKey(i), Value: []byte(strconv.Itoa(i)), TTL: 3600, SecretHash: dht.SHA1([]byte("s"))}}
				kind := "put"
				if i%5 == 4 && i-8 >= base { // remove an earlier put of this goroutine
					op = dht.Op{Kind: dht.OpRemove, Remove: dht.Remove{Client: "127.0.0.1", Key: killKey(i - 8), ValueHash: dht.SHA1([]byte(strconv.Itoa(i - 8))), Secret: []byte("s"), TTL: 3600}}
					kind = "rm"
				}
				st, err := d.write(op, wallNow())
				if err != nil || st != dht.StatusOK {
					fmt.Fprintln(os.Stderr, "write", i, st, err)
					continue
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d\n", kind, i)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestKillNineKeepsAcknowledgedWrites runs a writer process, kills it with
// SIGKILL while it writes, reopens its directory and checks that every
// write it acknowledged is there (DUR-1): acknowledged puts are returned,
// acknowledged removes hold.
func TestKillNineKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	for round := range 3 { // kill, reopen and go on writing, three times
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		base := round * 1_000_000 // fresh keys each round
		cmd.Env = append(os.Environ(), childEnv+"="+dir, fmt.Sprintf("%s_BASE=%d", childEnv, base))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[int]string{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && len(acked) < 2000 {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				t.Fatalf("child: %q", sc.Text())
			}
			i, _ := strconv.Atoi(f[1])
			acked[i] = f[0]
		}
		// Kill while the writers are mid-flight.
		_ = cmd.Process.Signal(syscall.SIGKILL)
		// Lines the child acknowledged before it died are acknowledgements too.
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 {
				i, _ := strconv.Atoi(f[1])
				acked[i] = f[0]
			}
		}
		_ = cmd.Wait()
		if len(acked) < 100 {
			t.Fatalf("round %d: child acknowledged only %d writes", round, len(acked))
		}
		s, err := Open(DefaultConfig(dir))
		if err != nil {
			t.Fatalf("reopen after kill -9: %v", err)
		}
		lost := 0
		for i, kind := range acked {
			key := killKey(i)
			if kind == "rm" && i-8 >= base {
				key = killKey(i - 8)
			}
			r, err := s.Get(dht.Get{Key: key, MaxVals: 10}, wallNow())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case kind == "put" && (i+8)%5 == 4 && acked[i+8] != "rm":
				// The remove of this put may have been applied but not
				// acknowledged when the process died: either outcome is right.
			case kind == "put" && acked[i+8] != "rm" && len(r.Values) != 1:
				lost++
				t.Errorf("round %d: acknowledged put %d lost", round, i)
			case kind == "rm" && len(r.Values) != 0:
				lost++
				t.Errorf("round %d: acknowledged remove %d undone", round, i)
			}
		}
		t.Logf("round %d: %d acknowledged writes checked after kill -9, %d lost", round, len(acked), lost)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
