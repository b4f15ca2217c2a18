#!/usr/bin/python3
"""Closed-loop load generator for the peer DHT (Debian's OpenDHT C++, driven by python3-opendht).

It applies the load shape of `dhtctl bench` to a cluster of `dhtnode` processes that
cmd/peerbench/run.sh starts: N concurrent clients, each with exactly one operation in flight,
starting the next one when the previous one completes; puts of fresh keys with values of a
fixed size; gets of keys that were put before (a pre-populated set plus the process's own
puts). It prints, per kind of operation, ops/s and latency p50/p99/p999, and ends with one
summary line in the format of our tool:

    ops/s=N p50_ms=N p99_ms=N errors=N

How clients map onto OpenDHT: the peer has no client/gateway split (its only client protocol
besides the DHT itself is an HTTP proxy), so a client of OpenDHT is a DhtRunner: a full DHT
node with its own C++ thread. The driver runs --processes worker processes, each with
--runners DhtRunner instances bound to 127.0.0.1 that join the cluster, and spreads the
clients round-robin over all runners. Operations are asynchronous (put/get with callbacks);
a client's next operation is issued from the completion callback of the previous one, in the
runner's thread, so no Python thread hand-off sits between two operations. Several processes
exist to take the Python GIL out of the measurement: each process reports the CPU it used.

Completion: a put is done when its done callback fires (OpenDHT reports success once the value
is acknowledged by the first TARGET_NODES = 8 live nodes of the search); a get is done when its
done callback fires (the first 8 live nodes answered), and counts as an error ("notfound") if
no value came back. Run with /usr/bin/python3 (the Debian interpreter that has the module).
"""

import argparse
import math
import multiprocessing as mp
import os
import queue
import random
import re
import resource
import signal
import sys
import threading
import time

# Exit codes, also used by run.sh.
EXIT_USAGE = 2
EXIT_NOT_FORMED = 3
EXIT_DRIVER = 4


def parse_duration(text):
    """Parses a Go-style duration ("30s", "1m30s", "500ms", "2.5s") into seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    units = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError("bad duration %r (want e.g. 30s, 1m, 500ms)" % text)
    return sum(float(n) * units[u] for n, u in parts)


def parse_ports(text):
    """Parses "4222-4237" or "4222,4223" into a list of ports."""
    ports = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            ports.extend(range(int(lo), int(hi) + 1))
        elif part:
            ports.append(int(part))
    return ports


def percentile(sorted_ns, q):
    """Nearest-rank percentile of a sorted list of nanoseconds, in milliseconds."""
    if not sorted_ns:
        return float("nan")
    rank = max(1, math.ceil(q * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1e6


def key_name(run_id, kind, a, b=0):
    return "peerbench/%s/%s/%d/%d" % (run_id, kind, a, b)


# ---------------------------------------------------------------------------------------------
# Worker process: runners, clients, measurement.


class Client:
    """One sequential stream of operations; only ever touched by one callback at a time."""

    __slots__ = ("cid", "runner", "rng", "seq", "lat", "done_at", "errors", "notfound",
                 "completed_late", "busy", "own_keys")

    def __init__(self, cid, runner, seed):
        self.cid = cid
        self.runner = runner
        self.rng = random.Random(seed)
        self.seq = 0
        self.lat = {"put": [], "get": []}
        self.errors = {"put": 0, "get": 0}
        self.notfound = 0
        self.done_at = []  # completion times (monotonic ns) of the counted operations
        self.completed_late = 0
        self.busy = False
        self.own_keys = []


def blocking(call, timeout):
    """Runs an asynchronous OpenDHT call whose last argument is a done callback, with a timeout.

    Returns the callback's arguments, or None on timeout."""
    done = threading.Event()
    box = []

    def cb(*a):
        box.append(a)
        done.set()

    call(cb)
    if not done.wait(timeout):
        return None
    return box[0]


def routing_ports(runner):
    """Loopback ports of the [good] IPv4 nodes in a runner's routing table."""
    log = runner.getRoutingTablesLog(2)  # AF_INET
    return {int(m) for m in re.findall(r"127\.0\.0\.1:(\d+)[^\n]*\[good\]", log)}


def die_with_parent():
    """Asks Linux to kill this process when the parent driver dies, however it dies."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(1)
    except (OSError, AttributeError):
        pass


def node_port(entry):
    """The UDP port of a NodeEntry from a done callback (0 if it is not on loopback)."""
    addr = entry.getNode().getAddr().decode()
    host, _, port = addr.rpartition(":")
    return int(port) if host == "127.0.0.1" else 0


def worker(wid, args, client_ids, ctl, go, results):
    """Runs in its own process (spawn start method: no C++ thread is ever forked)."""
    import opendht as dht

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, and so this process

    def send(msg):
        # Flush the queue's feeder thread before os._exit, or the message is lost.
        results.put(msg)
        results.close()
        results.join_thread()

    def fail(msg, code=EXIT_DRIVER):
        send(("fail", wid, code, msg))
        os._exit(0)

    host, port = args.bootstrap.rsplit(":", 1)
    runners = []
    for _ in range(args.runners):
        cfg = dht.DhtConfig()
        # The dhtnodes run with --no-rate-limit; on loopback every node shares one IP address,
        # and the per-IP limit (1024 requests/s by default) would throttle the whole cluster.
        cfg.setRateLimit(-1, -1)
        cfg.setNetwork(args.network)
        r = dht.DhtRunner()
        r.run(port=0, ipv4="127.0.0.1", config=cfg)
        r.bootstrap(host, port)
        runners.append(r)

    payload = os.urandom(args.value_size)

    # A runner is connected once a put through it completes.
    deadline = time.monotonic() + args.ready_timeout
    for i, r in enumerate(runners):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("runner %d of worker %d never connected to %s" % (i, wid, args.bootstrap),
                     EXIT_NOT_FORMED)
            res = blocking(lambda cb: r.put(dht.InfoHash.get(key_name(args.run_id, "hello", wid, i)),
                                            dht.Value(b"hello"), done_cb=cb), left)
            if res is not None and res[0]:
                break
            time.sleep(0.2)

    # Worker 0 checks that the network is formed: lookups from the driver find every expected
    # dhtnode (a Kademlia routing table holds at most 8 nodes per bucket, so the table alone
    # need not list all of them), and a put reaches min(8, nodes) nodes and reads back.
    if wid == 0 and args.expect_ports:
        want = set(args.expect_ports)
        r = runners[0]
        seen = set()
        while True:
            seen |= routing_ports(r)
            if want <= seen:
                break
            if time.monotonic() > deadline:
                fail("network never formed: lookups never found the dhtnodes on ports %s"
                     % sorted(want - seen), EXIT_NOT_FORMED)
            res = blocking(lambda cb: r.get(dht.InfoHash.getRandom(), get_cb=lambda v: True,
                                            done_cb=cb), 5)
            if res is not None:
                seen |= {node_port(n) for n in res[1]}
        k = dht.InfoHash.get(key_name(args.run_id, "probe", 0))
        res = blocking(lambda cb: r.put(k, dht.Value(payload), done_cb=cb), 30)
        if res is None or not res[0] or len(res[1]) < min(8, len(want)):
            fail("network never formed: probe put %s" %
                 ("timed out" if res is None else "ok=%s nodes=%d" % (res[0], len(res[1]))),
                 EXIT_NOT_FORMED)
        vals = []
        res = blocking(lambda cb: r.get(k, get_cb=lambda v: vals.append(v.data) or True,
                                        done_cb=cb), 30)
        if res is None or payload not in vals:
            fail("network never formed: probe get did not return the probe value", EXIT_NOT_FORMED)

    # Pre-populate this worker's share of the key set that gets read, with all of its clients
    # in flight at once (the shape of the measured load, not a loop of blocking puts).
    mine = [i for i in range(args.prepopulate) if i % args.processes == wid]
    pre_errors = 0
    if mine:
        lock = threading.Lock()
        todo = list(mine)
        finished = threading.Event()
        state = {"left": len(todo), "errors": 0}

        def pre_next(r):
            with lock:
                if not todo:
                    return
                i = todo.pop()
            k = dht.InfoHash.get(key_name(args.run_id, "pre", i))

            def done(ok, nodes):
                with lock:
                    state["left"] -= 1
                    if not ok:
                        state["errors"] += 1
                    if state["left"] == 0:
                        finished.set()
                pre_next(r)

            r.put(k, dht.Value(payload), done_cb=done)

        for c in range(max(1, len(client_ids))):
            pre_next(runners[c % len(runners)])
        if not finished.wait(args.ready_timeout):
            fail("pre-population did not finish in %.0fs (%d puts left)" %
                 (args.ready_timeout, state["left"]))
        pre_errors = state["errors"]
    pool = [dht.InfoHash.get(key_name(args.run_id, "pre", i)) for i in range(args.prepopulate)]

    clients = [Client(cid, runners[n % len(runners)], args.seed * 1000003 + cid)
               for n, cid in enumerate(client_ids)]
    ctl.put(("ready", wid, pre_errors))  # the process lives on, so the feeder flushes
    go.wait()
    start_ns = int(args.start_at.value * 1e9)
    stop_ns = start_ns + int(args.duration * 1e9) if args.ops == 0 else None
    ops_left = [args.ops // args.processes + (1 if wid < args.ops % args.processes else 0)]
    ops_lock = threading.Lock()
    idle = threading.Event()
    busy = [0]
    busy_lock = threading.Lock()

    def finish(c):
        c.busy = False
        with busy_lock:
            busy[0] -= 1
            if busy[0] == 0:
                idle.set()

    def issue(c):
        if stop_ns is not None:
            if time.monotonic_ns() >= stop_ns:
                return finish(c)
        else:
            with ops_lock:
                if ops_left[0] <= 0:
                    return finish(c)
                ops_left[0] -= 1
        c.seq += 1
        if c.rng.random() < args.get_ratio:
            if c.own_keys and c.rng.random() < len(c.own_keys) / (len(c.own_keys) + len(pool)):
                key = c.own_keys[c.rng.randrange(len(c.own_keys))]
            else:
                key = pool[c.rng.randrange(len(pool))]
            found = [0]

            def on_value(v):
                if len(v.data) == args.value_size:
                    found[0] += 1
                return True  # let the get run to completion, as OpenDHT's own blocking get does

            def on_get_done(ok, nodes, t0=time.monotonic_ns()):
                t1 = time.monotonic_ns()
                if stop_ns is not None and t1 > stop_ns:
                    c.completed_late += 1
                else:
                    c.lat["get"].append(t1 - t0)
                    c.done_at.append(t1)
                    if not ok:
                        c.errors["get"] += 1
                    elif not found[0]:
                        c.notfound += 1
                issue(c)

            c.runner.get(key, get_cb=on_value, done_cb=on_get_done)
        else:
            key = dht.InfoHash.get(key_name(args.run_id, "run", c.cid, c.seq))
            value = dht.Value(c.seq.to_bytes(8, "big") + payload[8:])

            def on_put_done(ok, nodes, t0=time.monotonic_ns()):
                t1 = time.monotonic_ns()
                if stop_ns is not None and t1 > stop_ns:
                    c.completed_late += 1
                else:
                    c.lat["put"].append(t1 - t0)
                    c.done_at.append(t1)
                    if ok:
                        c.own_keys.append(key)
                    else:
                        c.errors["put"] += 1
                issue(c)

            c.runner.put(key, value, done_cb=on_put_done)

    now = time.monotonic_ns()
    if start_ns > now:
        time.sleep((start_ns - now) / 1e9)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    busy[0] = len(clients)
    if not clients:
        idle.set()
    for c in clients:
        c.busy = True
        issue(c)

    if stop_ns is not None:
        time.sleep(max(0.0, (stop_ns - time.monotonic_ns()) / 1e9))
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        idle.wait(args.drain_timeout)
    else:
        idle.wait()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    end_ns = time.monotonic_ns() if stop_ns is None else stop_ns
    stuck = sum(1 for c in clients if c.busy)

    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out = {
        "put": [x for c in clients for x in c.lat["put"]],
        "get": [x for c in clients for x in c.lat["get"]],
        "put_errors": sum(c.errors["put"] for c in clients),
        "get_errors": sum(c.errors["get"] for c in clients),
        "notfound": sum(c.notfound for c in clients),
        "done_at": [x for c in clients for x in c.done_at],
        "late": sum(c.completed_late for c in clients),
        "stuck": stuck,
        "cpu_s": cpu,
        "start_ns": start_ns,
        "end_ns": end_ns,
    }
    send(("ok", wid, out))
    # Runner threads may still hold callbacks into this interpreter: leave without tearing down.
    for r in runners:
        r.shutdown()
    time.sleep(0.2)
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# Parent: orchestration, CPU accounting of the peer, aggregation and report.


def proc_cpu_seconds(pids):
    """Sum of user+system CPU seconds of the given processes (from /proc/PID/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / tick


def machine_cpu():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", type=int, default=64, help="concurrent closed-loop clients")
    p.add_argument("--duration", type=parse_duration, default=30.0,
                   help="measured time, Go syntax (30s, 1m); ignored when --ops is set")
    p.add_argument("--ops", type=int, default=0, help="total operations instead of a duration")
    p.add_argument("--value-size", type=int, default=1024, help="bytes per value")
    p.add_argument("--get-ratio", type=float, default=0.5, help="fraction of operations that are gets")
    p.add_argument("--bootstrap", default="127.0.0.1:4222", help="host:port of a dhtnode")
    p.add_argument("--expect-ports", type=parse_ports, default=[],
                   help="dhtnode ports that lookups must find before measuring (4222-4237)")
    p.add_argument("--network", type=int, default=0, help="OpenDHT network id (dhtnode -n)")
    p.add_argument("--processes", type=int, default=2, help="driver processes")
    p.add_argument("--runners", type=int, default=2, help="DhtRunner instances per driver process")
    p.add_argument("--prepopulate", type=int, default=1000, help="keys put before measuring")
    p.add_argument("--peer-pids", default="", help="comma-separated dhtnode pids, for CPU accounting")
    p.add_argument("--ready-timeout", type=parse_duration, default=60.0,
                   help="time allowed for joining, the formation check and pre-population")
    p.add_argument("--drain-timeout", type=parse_duration, default=15.0,
                   help="time to wait for operations in flight at the end")
    p.add_argument("--seed", type=int, default=1, help="seed of the operation mix and key choice")
    args = p.parse_args(argv)
    procs = []

    def on_signal(signum, _frame):
        # run.sh's cleanup sends SIGTERM; Ctrl-C sends SIGINT. Stop the workers, quietly.
        for pr in procs:
            if pr.pid:
                pr.kill()
        print("peer_bench: stopped by signal %d" % signum, file=sys.stderr)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.concurrency < 1 or args.processes < 1 or args.runners < 1:
        p.error("--concurrency, --processes and --runners must be at least 1")
    if args.value_size < 8 or args.value_size > 64 * 1024:
        p.error("--value-size must be between 8 and 65536 bytes (OpenDHT's value limit is 64 KiB)")
    if not 0.0 <= args.get_ratio <= 1.0:
        p.error("--get-ratio must be in [0, 1]")
    if args.get_ratio > 0 and args.prepopulate < 1:
        p.error("gets need keys to read: --prepopulate must be at least 1")
    args.processes = min(args.processes, args.concurrency)
    args.run_id = "%d-%d" % (os.getpid(), time.time_ns())
    peer_pids = [int(x) for x in args.peer_pids.split(",") if x]

    ctx = mp.get_context("spawn")
    args.start_at = ctx.Value("d", 0.0)
    ctl, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    for w in range(args.processes):
        ids = list(range(w, args.concurrency, args.processes))
        pr = ctx.Process(target=worker, args=(w, args, ids, ctl, go, results), daemon=True)
        pr.start()
        procs.append(pr)

    def die(code, msg):
        print("peer_bench: " + msg, file=sys.stderr)
        for pr in procs:
            pr.kill()
        sys.exit(code)

    t_ready = time.monotonic()
    pre_errors = 0
    ready = 0
    while ready < args.processes:
        try:
            msg = results.get(timeout=0.2)
            die(msg[2] if msg[0] == "fail" else EXIT_DRIVER,
                msg[3] if msg[0] == "fail" else "worker reported before start")
        except queue.Empty:
            pass
        try:
            msg = ctl.get(timeout=0.2)
            ready += 1
            pre_errors += msg[2]
        except queue.Empty:
            pass
        if any(not pr.is_alive() for pr in procs):
            try:  # a worker that failed has sent why before leaving
                msg = results.get(timeout=2)
            except queue.Empty:
                die(EXIT_DRIVER, "a driver process died during set-up")
            die(msg[2] if msg[0] == "fail" else EXIT_DRIVER,
                msg[3] if msg[0] == "fail" else "worker reported before start")
        if time.monotonic() - t_ready > 2 * args.ready_timeout + 30:
            die(EXIT_NOT_FORMED, "driver processes not ready after %.0fs" % (time.monotonic() - t_ready))
    print("peer_bench: network formed; %d driver processes x %d runners, %d clients; "
          "pre-populated %d keys (%d put errors); setup %.1fs"
          % (args.processes, args.runners, args.concurrency, args.prepopulate, pre_errors,
             time.monotonic() - t_ready), file=sys.stderr)

    # CLOCK_MONOTONIC is system-wide, so one start time serves every worker process.
    start = time.monotonic() + 0.5
    args.start_at.value = start
    go.set()
    time.sleep(max(0.0, start - time.monotonic()))
    peer0, mach0 = proc_cpu_seconds(peer_pids), machine_cpu()
    if args.ops == 0:
        time.sleep(args.duration)
        peer1, mach1 = proc_cpu_seconds(peer_pids), machine_cpu()

    outs = []
    wait_limit = time.monotonic() + (args.duration if args.ops == 0 else 0) + args.drain_timeout + 60
    while len(outs) < args.processes:
        try:
            msg = results.get(timeout=1.0 if args.ops == 0 else None)
        except queue.Empty:
            if time.monotonic() > wait_limit:
                die(EXIT_DRIVER, "driver processes did not report")
            continue
        if msg[0] == "fail":
            die(msg[2], msg[3])
        outs.append(msg[2])
    if args.ops:
        peer1, mach1 = proc_cpu_seconds(peer_pids), machine_cpu()
    for pr in procs:
        pr.join(5)
        if pr.is_alive():
            pr.kill()

    elapsed = (max(o["end_ns"] for o in outs) - min(o["start_ns"] for o in outs)) / 1e9
    report(args, outs, elapsed, peer_pids, peer1 - peer0, (mach0, mach1))
    return 0


def report(args, outs, elapsed, peer_pids, peer_cpu, mach):
    kinds = {}
    for kind in ("put", "get"):
        lat = sorted(x for o in outs for x in o[kind])
        kinds[kind] = lat
    errors = {"put": sum(o["put_errors"] for o in outs),
              "get": sum(o["get_errors"] for o in outs)}
    notfound = sum(o["notfound"] for o in outs)
    late = sum(o["late"] for o in outs)
    stuck = sum(o["stuck"] for o in outs)

    print("peer: OpenDHT %s (python3-opendht), %d clients, value %d B, get ratio %.2f, "
          "%.1fs measured, %d driver processes x %d runners"
          % (peer_version(), args.concurrency, args.value_size, args.get_ratio, elapsed,
             args.processes, args.runners))
    for kind in ("put", "get"):
        lat = kinds[kind]
        extra = " notfound=%d" % notfound if kind == "get" else ""
        print("%s: ops=%d ops/s=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%d%s"
              % (kind, len(lat), len(lat) / elapsed, percentile(lat, 0.50), percentile(lat, 0.99),
                 percentile(lat, 0.999), errors[kind] + (notfound if kind == "get" else 0), extra))
    ncpu = os.cpu_count() or 1
    busy = (mach[1][0] - mach[0][0]) / max(1, mach[1][1] - mach[0][1])
    driver_cpu = sum(o["cpu_s"] for o in outs)
    other = max(0.0, busy * ncpu - peer_cpu / elapsed - driver_cpu / elapsed)
    print("cpu: machine %d cores %.0f%% busy; peer dhtnodes %.2f cores (%d processes); "
          "driver %.2f cores (%s); everything else %.2f cores"
          % (ncpu, 100 * busy, peer_cpu / elapsed, len(peer_pids), driver_cpu / elapsed,
             " ".join("%.2f" % (o["cpu_s"] / elapsed) for o in outs), other))
    if late or stuck:
        print("tail: %d operations completed after the window (not counted); %d still in flight"
              % (late, stuck))
    # Throughput over time: OpenDHT keeps every search of a client node for 62 minutes, so a
    # node that has done many operations does more work per packet; this shows the trend.
    step = max(1.0, round(elapsed / 6))
    start_ns = min(o["start_ns"] for o in outs)
    buckets = [0] * max(1, math.ceil(elapsed / step))
    for o in outs:
        for t in o["done_at"]:
            buckets[min(len(buckets) - 1, int((t - start_ns) / 1e9 / step))] += 1
    print("timeline: ops/s per %gs: %s" % (step, " ".join("%.0f" % (b / step) for b in buckets)))
    everything = sorted(kinds["put"] + kinds["get"])
    total_errors = errors["put"] + errors["get"] + notfound
    print("ops/s=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d"
          % (len(everything) / elapsed, percentile(everything, 0.50),
             percentile(everything, 0.99), total_errors))
    sys.stdout.flush()


def peer_version():
    for line in os.popen("dpkg-query -W -f='${Version}' python3-opendht 2>/dev/null"):
        return line.strip()
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
