package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// zeros is n zero bytes, made as they are read.
type zeros struct{ left int64 }

func (z *zeros) Read(b []byte) (int, error) {
	if z.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), z.left))
	clear(b[:n])
	z.left -= int64(n)
	return n, nil
}

// vmHWM is the process's peak resident memory in KiB, or -1.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// BenchmarkLargeGatewayMemory streams a 64 MiB value into a gateway and
// back out (LV-9), and reports the gateway's peak heap while it does:
// bounded by the blocks in flight, not by the value. The value is zeros,
// so the in-memory DHT holds one block and a few manifests: what memory
// grows is the gateway's and the HTTP client's, both in this process.
func BenchmarkLargeGatewayMemory(b *testing.B) {
	m := gatewaytest.NewModel()
	xc := xmlrpc.DefaultConfig()
	xc.API = New(m, DefaultConfig())
	srv := httptest.NewServer(xmlrpc.New(m, xc).Handler())
	defer srv.Close()
	url := srv.URL + Prefix + "large/" + hexKey("zeros")
	const size = 64 << 20
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	runtime.GC()
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	hwm0 := vmHWM()
	b.SetBytes(2 * size)
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPut, url, io.NopCloser(&zeros{size}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("PUT: %v %v", resp, err)
		}
		resp.Body.Close()
		resp, err = http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("GET: %d bytes, %v", n, err)
		}
	}
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(vmHWM()-hwm0)/1024, "VmHWM-growth-MiB")
	b.ReportMetric(float64(vmHWM())/1024, "VmHWM-MiB")
}
