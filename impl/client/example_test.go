package client_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// exampleGateway starts an XML-RPC gateway on an in-memory DHT and returns
// its address. In real use the address is a node's port + 1, e.g.
// "127.0.0.1:5851" for the first node of `make run`.
func exampleGateway() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		_ = xmlrpc.New(gatewaytest.NewModel(), xmlrpc.DefaultConfig()).ServeListener(context.Background(), ln)
	}()
	return ln.Addr().String()
}

func Example() {
	c, err := client.New(client.DefaultConfig(exampleGateway()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	key := client.TextKey("my-app/rendezvous")
	if err := c.Put(ctx, key, []byte("10.0.0.7:4000"), time.Hour); err != nil {
		log.Fatal(err)
	}
	vals, err := c.Get(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range vals {
		fmt.Printf("%s (ttl %v)\n", v.Data, v.TTL)
	}
	// Output: 10.0.0.7:4000 (ttl 1h0m0s)
}

// Several gateways, spoken to over Sun RPC: calls are spread over them and
// fail over when one does not answer.
func ExampleConfig() {
	cfg := client.DefaultConfig("127.0.0.1:5852", "127.0.0.1:5862", "127.0.0.1:5872")
	cfg.Protocol = client.SunRPC
	cfg.CallTimeout = 5 * time.Second
	c, err := client.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(cfg.Protocol, len(cfg.Gateways), "gateways")
	// Output: sunrpc 3 gateways
}

func ExampleClient_PutRemovable() {
	c, err := client.New(client.DefaultConfig(exampleGateway()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	key := client.TextKey("presence/alice")
	secret := []byte("only alice knows this")
	if err := c.PutRemovable(ctx, key, []byte("online"), secret, 10*time.Minute); err != nil {
		log.Fatal(err)
	}
	// The remove names the value (by its SHA-1) and shows the secret.
	if err := c.Remove(ctx, key, []byte("online"), secret, 10*time.Minute); err != nil {
		log.Fatal(err)
	}
	vals, _ := c.Get(ctx, key)
	fmt.Println(len(vals), "values left")
	// Output: 0 values left
}

// Values hides placemarks: it asks for the next page as the loop needs it.
func ExampleClient_Values() {
	c, err := client.New(client.DefaultConfig(exampleGateway()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	key := client.TextKey("log")
	for i := range 25 {
		if err := c.Put(ctx, key, fmt.Appendf(nil, "entry %d", i), time.Hour); err != nil {
			log.Fatal(err)
		}
	}
	n := 0
	for v, err := range c.Values(ctx, key) {
		if err != nil {
			log.Fatal(err)
		}
		if n++; n == 1 || n == 25 {
			fmt.Printf("%s\n", v.Data)
		}
	}
	fmt.Println(n, "values")
	// Output:
	// entry 0
	// entry 24
	// 25 values
}

// A read-modify-write loop: a counter that concurrent clients increment
// without losing an update. Read, compute, CAS with the version read; when
// the CAS fails, someone else wrote first: compute again from the current
// register the CAS returns.
func ExampleClient_CAS() {
	c, err := client.New(client.DefaultConfig(exampleGateway()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	key := client.TextKey("my-app/counter")
	increment := func() error {
		cur, err := c.Read(ctx, key) // version 0 and no value while absent
		if err != nil {
			return err
		}
		for {
			n, _ := strconv.ParseUint(string(cur.Value), 10, 64)
			res, err := c.CAS(ctx, key, cur.Version, []byte(strconv.FormatUint(n+1, 10)), 24*time.Hour)
			if err != nil {
				// After client.ErrUnknownOutcome the increment may or may
				// not have happened, and the register alone cannot tell
				// (a value that names its writer would): never repeat the
				// CAS blindly.
				return err
			}
			if res.OK {
				return nil
			}
			cur = res.Versioned
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if err := increment(); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	v, err := c.Read(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("counter %s at version %d\n", v.Value, v.Version)
	// Output: counter 40 at version 40
}

func ExampleTextKey() {
	fmt.Println(client.TextKey("hello"))
	// Output: aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d
}
