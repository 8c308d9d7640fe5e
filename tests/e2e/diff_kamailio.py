#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Differential test: routing scripts x SIP messages through Kamailio and through viaduct.

Called by diff_test.sh, which builds the namespace lab (tests/e2e/lib.sh) and passes the names.
One process does all the SIP I/O: it opens its UDP sockets inside the lab's namespaces (setns),
the client sockets in the client namespace and the capture sockets in each backend namespace.
The capture sockets never answer; they record every datagram. For each script (data/diff/NN-*.cfg)
Kamailio runs on a kernel address in the load balancer namespace, every message of
data/diff/messages.txt is sent in order and what comes back (local replies) or reaches a backend
(forwarded requests) is recorded by Call-ID; then the same with viaduct on the same veth through
net_af_packet (the kernel address removed). The two recordings must be equal after the
normalisation below (which lists what is evened out, and why); the Kamailio recording must also
give the outcomes listed in data/diff/kamailio-outcomes.txt (a reviewed summary: it catches a
broken harness or lab, where both sides would agree on nothing happening).

Report: per script "match", "DIFFER" (per message: what each side did, viaduct's drop reason or
"cosmetic only" where the difference is layout SIP does not distinguish, then a unified diff) or
"viaduct rejects script" (viaduct -c's diagnostics). Logs, per-side transcripts
(NN.kamailio.txt, NN.viaduct.txt), viaduct's /metrics and summary.json stay in the work folder
when the test fails.

A script may have messages of its own, NN-name.msgs next to it (same format, numbered after the
shared ones), sent after the shared ones to that script only; "src=b1" there sends a reply from
the first backend to the load balancer ({B1}:5060, our Via on top): reply_route scripts.

Environment: VD_DIFF_SCRIPTS="01 04" runs a subset; VD_DIFF_UPDATE=1 rewrites the outcome list
from this Kamailio run (read the diff before keeping it); VD_DIFF_SELFCHECK=1 runs Kamailio again
in place of viaduct (the harness check: every script must match).
"""

import argparse
import ctypes
import difflib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)

# Waiting per message: until the first event (a reply or a capture) for its Call-ID plus GRACE
# (a script may reply and forward), at most TIMEOUT when nothing happens (a drop).
TIMEOUT = float(os.environ.get("VD_DIFF_TIMEOUT", "0.25"))
GRACE = float(os.environ.get("VD_DIFF_GRACE", "0.04"))
BACKEND_PORTS = (5060, 5062, 5080)


def in_netns(name, fn):
    """Runs fn() with this thread in network namespace `name`; sockets made there stay there."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        try:
            return fn()
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(target)
        os.close(home)


def udp_socket(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((ip, port))
    s.setblocking(False)
    return s


# ---------------------------------------------------------------------------------------------
# Messages

def load_messages(path):
    """[(number, src index, description, template text)] from messages.txt."""
    msgs = []
    cur = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("=== "):
                m = re.match(r"=== (\d+) src=([12]|b1) (.*)", line)
                if not m:
                    raise SystemExit(f"{path}: bad separator: {line}")
                # src=b1: a reply a backend sends to the load balancer (from {B1}:5060, the
                # capture socket), to be relayed by its second Via.
                src = m.group(2)
                cur = {"num": m.group(1), "src": src if src == "b1" else int(src),
                       "desc": m.group(3), "lines": []}
                msgs.append(cur)
            elif cur is None:
                continue  # the header comment
            else:
                cur["lines"].append(line)
    return msgs


def render(msg, cid, token, addrs):
    """The wire bytes of one message: CRLF lines, Content-Length filled in."""
    lines = list(msg["lines"])
    while lines and lines[-1] == "":
        lines.pop()
    if "" in lines:
        cut = lines.index("")
        head, body = lines[:cut], lines[cut + 1:]
    else:
        head, body = lines, []
    body_text = "".join(l + "\r\n" for l in body)
    src = {1: addrs["C1"], 2: addrs["C2"], "b1": addrs["B1"]}[msg["src"]]
    subst = dict(addrs)
    subst.update({"SRC": src, "CID": cid, "ID": token})

    def fill(text):
        for k, v in subst.items():
            text = text.replace("{" + k + "}", v)
        return text

    body_text = fill(body_text)
    head = [fill(l).replace("{CL}", str(len(body_text.encode()))) for l in head]
    return ("\r\n".join(head) + "\r\n\r\n" + body_text).encode()


def call_id_of(data):
    m = re.search(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S+)", data, re.I | re.M)
    return m.group(1).decode(errors="replace") if m else "?"


# ---------------------------------------------------------------------------------------------
# Normalisation: only what must differ between the two implementations, each said where it is
# done: our Via's branch value and its default port, the Server header text and the To-tag value
# of local replies, whitespace around header values. Everything else is compared as sent:
# destination and source address:port, start line (R-URI, reply code and reason), every header
# in order (Via count and parameters, Route, Record-Route, Max-Forwards, added and removed
# fields, Content-Length: equal by construction when the body is, so not normalised), body.

def split_msg(data):
    text = data.decode("utf-8", errors="replace")
    head, sep, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    # Unfold continuation lines so that a header is one line.
    out = []
    for l in lines:
        if l[:1] in (" ", "\t") and out:
            out[-1] += " " + l.strip()
        else:
            out.append(l)
    return out, body


def normalise(data, lb_ip, is_reply):
    lines, body = split_msg(data)
    start, headers = lines[0], lines[1:]
    norm = [start]
    top_via_done = False
    for h in headers:
        name, _, value = h.partition(":")
        lname = name.strip().lower()
        if lname in ("via", "v") and not top_via_done:
            top_via_done = True
            if not is_reply:
                # The top Via of a forwarded request is the load balancer's own (its host is
                # our address, or the advertised one: set_advertised_address). Its branch is
                # each implementation's stateless hash (viaduct: RFC 3261 16.11 over
                # Via/From-tag/Call-ID/CSeq/R-URI; Kamailio: its own), so only its presence and
                # magic cookie are compared. Were a Via missing, the Via count still differs.
                value = re.sub(r"(;branch=z9hG4bK)[^;,\s]*", r"\1<hash>", value)
                # Anything else in our Via (host, port, transport, params) must match: both
                # leave out the default port 5060.
        if lname in ("server", "user-agent") and is_reply:
            # Local replies: the product name and version.
            value = " <product>"
        if lname in ("to", "t") and is_reply:
            # The To-tag a stateless reply generates is each implementation's hash; its
            # presence must match.
            value = re.sub(r"(;tag=)[^;,\s]*", r"\1<tag>", value)
        # Whitespace around a header value is not significant (RFC 3261 7.3.1), and Kamailio
        # leaves some: maxfwd rewrites "Max-Forwards: 255" in place as "Max-Forwards:  70".
        norm.append(f"{name}: {value.strip()}")
    return norm + ["", body] if body else norm


COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "s": "subject", "k": "supported",
           "e": "content-encoding", "o": "event", "r": "refer-to", "u": "allow-events"}


def lenient(lines, lb_ip):
    """One normalised message with what SIP does not distinguish also evened out: the order of
    header fields of different names (RFC 3261 7.3.1; the order within one name is kept), the
    order of Via parameters, compact header names, and an explicit default port in our Via.
    Never used for pass/fail: only to label a difference "cosmetic" in the report, so that
    layout can be told from routing."""
    head, body = lines, []
    if "" in lines:
        cut = lines.index("")
        head, body = lines[:cut], lines[cut:]
    keyed = []
    for h in head[1:]:
        name, _, value = h.partition(":")
        key = COMPACT.get(name.strip().lower(), name.strip().lower())
        value = value.strip()
        if key == "via":
            parts = [p.strip() for p in value.split(";")]
            sent_by = parts[0]
            if sent_by.endswith(":5060"):
                sent_by = sent_by[: -len(":5060")]
            value = ";".join([sent_by] + sorted(parts[1:]))
        keyed.append((key, f"{key}: {value}"))
    keyed.sort(key=lambda kv: kv[0])  # stable: same-name fields keep their order
    return [head[0]] + [v for _, v in keyed] + body


# ---------------------------------------------------------------------------------------------

class Lab:
    def __init__(self, args):
        self.args = args
        net = args.net
        self.addrs = {"LB": f"10.{net}.0.2", "C1": f"10.{net}.0.10", "C2": f"10.{net}.0.20",
                      "B1": f"10.{net}.0.11", "B2": f"10.{net}.0.12", "B3": f"10.{net}.0.13",
                      "NET": f"10.{net}.0"}
        self.client = [in_netns(args.client, lambda ip=ip: udp_socket(ip, 5060))
                       for ip in (self.addrs["C1"], self.addrs["C2"])]
        self.captures = []
        for ns, key in zip(args.backends.split(","), ("B1", "B2", "B3")):
            for port in BACKEND_PORTS:
                ip = self.addrs[key]
                s = in_netns(ns, lambda ip=ip, port=port: udp_socket(ip, port))
                self.captures.append((s, f"{ip}:{port}"))
        self.sock_kind = {}
        for i, s in enumerate(self.client):
            self.sock_kind[s.fileno()] = ("reply", self.client_name(i), s)
        for s, where in self.captures:
            self.sock_kind[s.fileno()] = ("forward", where, s)

    def client_name(self, i):
        return "C1" if i == 0 else "C2"

    def poll(self, timeout, events):
        """Receives what is there within timeout; appends (kind, where, from, data)."""
        fds = list(self.sock_kind)
        r, _, _ = select.select(fds, [], [], max(0.0, timeout))
        got = 0
        for fd in r:
            kind, where, s = self.sock_kind[fd]
            while True:
                try:
                    data, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                events.append((kind, where, f"{addr[0]}:{addr[1]}", data))
                got += 1
        return got

    def drain(self):
        junk = []
        while self.poll(0.0, junk):
            pass

    def warm_neighbours(self):
        # viaduct learns a neighbour's MAC from any frame it sends; a forward to a next hop whose
        # MAC is unknown is held while ARP resolves it (as Kamailio's kernel queues it), which can
        # outlast a message's window. Each host sends one datagram to the discard port first.
        for s in self.client + [c[0] for c in self.captures[::len(BACKEND_PORTS)]]:
            try:
                s.sendto(b"warm-up", (self.addrs["LB"], 9))
            except OSError:
                pass

    def run_messages(self, script, messages, after_each=None):
        """{call-id: [events]} for one script run, messages sent one by one in order.
        after_each(cid) runs once each message's window is over (viaduct: its drop counters)."""
        self.drain()
        events = []
        order = []
        for msg in messages:
            token = f"d{script}m{msg['num']}"
            cid = f"{token}@diff.lab"
            order.append((msg, cid))
            data = render(msg, cid, token, self.addrs)
            sender = self.captures[0][0] if msg["src"] == "b1" else self.client[msg["src"] - 1]
            sender.sendto(data, (self.addrs["LB"], 5060))
            deadline = time.monotonic() + TIMEOUT
            seen = False
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                before = len(events)
                self.poll(deadline - now, events)
                if not seen and any(call_id_of(e[3]) == cid for e in events[before:]):
                    seen = True
                    deadline = min(deadline, time.monotonic() + GRACE)
            if after_each is not None:
                after_each(cid)
        # Late datagrams still count (they are matched by Call-ID): wait for a quiet spell.
        while self.poll(0.15, events):
            pass
        by_cid = {}
        for e in events:
            by_cid.setdefault(call_id_of(e[3]), []).append(e)
        return order, by_cid


# The lab's subnet ("10.NET.0."), written "LAB." in the outcome list so that any LAB_NET works.
LAB_PREFIX = None


def outcome_summary(evts):
    """One line per message: what happened, for the reviewed Kamailio outcome list."""
    if not evts:
        return "nothing"
    parts = []
    for kind, where, frm, data in evts:
        first = data.split(b"\r\n", 1)[0].decode(errors="replace")
        if kind == "reply":
            parts.append("reply " + " ".join(first.split(" ", 2)[1:2]))
        else:
            parts.append("forward " + where.replace(LAB_PREFIX, "LAB."))
    return ", ".join(parts)


def render_events(evts, lb_ip, loose=False):
    out = []
    for kind, where, frm, data in evts:
        if kind == "reply":
            out.append(f"--- local reply to {where}, from {frm}")
        else:
            out.append(f"--- forwarded to {where}, from {frm}")
        lines = normalise(data, lb_ip, kind == "reply")
        out.extend(lenient(lines, lb_ip) if loose else lines)
    return out


def dump(path, run, lb_ip):
    """What one implementation did with one script, message by message (kept for reading)."""
    order, by_cid = run
    with open(path, "w", encoding="utf-8") as f:
        for msg, cid in order:
            f.write(f"===== message {msg['num']}: {msg['desc']}\n")
            f.write("\n".join(render_events(by_cid.get(cid, []), lb_ip)) + "\n")


# ---------------------------------------------------------------------------------------------
# The two implementations

def netns_cmd(ns, argv):
    return ["ip", "netns", "exec", ns] + argv


def wait_udp_bound(ns, addr, proc, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        out = subprocess.run(netns_cmd(ns, ["ss", "-Hlun"]), capture_output=True, text=True).stdout
        if f"{addr}:5060" in out:
            return True
        time.sleep(0.05)
    return False


def fetch_metrics(ns, port):
    """viaduct's /metrics text (kept next to the logs: drop reasons explain a 'nothing')."""
    def get():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            chunks = []
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
            return b"".join(chunks).decode(errors="replace")
        except OSError as e:
            return f"metrics unavailable: {e}"
        finally:
            s.close()
    return in_netns(ns, get)


def counters(text):
    """{drop or parse-error reason: count} from a /metrics text."""
    out = {}
    for m in re.finditer(r'^viaduct_(drops_total|sip_parse_errors_total)\{reason="([^"]+)"\} (\S+)',
                         text, re.M):
        out[f"{m.group(1)[:5]}:{m.group(2)}"] = float(m.group(3))
    return out


def wait_neighbours(lab, ns, port, want, seconds=5.0):
    """Warms the neighbours until viaduct's viaduct_neighbours gauge reaches `want`."""
    end = time.monotonic() + seconds
    while True:
        lab.warm_neighbours()
        m = re.search(r'^viaduct_neighbours (\S+)', fetch_metrics(ns, port), re.M)
        if m and float(m.group(1)) >= want:
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.2)


def wait_metrics(ns, port, proc, seconds=15.0):
    def probe():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.")
        except OSError:
            return False
        finally:
            s.close()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if in_netns(ns, probe):
            return True
        time.sleep(0.1)
    return False


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--viaduct", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--net", required=True)
    ap.add_argument("--lb", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--backends", required=True)
    ap.add_argument("--metrics-port", type=int, default=9464)
    args = ap.parse_args()

    lab = Lab(args)
    addrs = lab.addrs
    global LAB_PREFIX
    LAB_PREFIX = addrs["LB"].rsplit(".", 2)[0] + "."
    messages = load_messages(os.path.join(args.data, "messages.txt"))
    scripts = sorted(f for f in os.listdir(args.data) if re.match(r"\d\d-.*\.cfg$", f))
    # NN-name.msgs next to a script: messages sent after the shared ones, to that script only
    # (replies from a backend for a reply_route script), numbered after them.
    script_msgs = {}
    for name in scripts:
        extra = os.path.join(args.data, name[:-len(".cfg")] + ".msgs")
        script_msgs[name[:2]] = messages + (load_messages(extra) if os.path.exists(extra) else [])
    only = os.environ.get("VD_DIFF_SCRIPTS", "").split()
    if only:
        scripts = [s for s in scripts if s[:2] in only]
    if not scripts:
        print("FAIL - no script selected")
        return 1

    # Files shared by the scripts: the dispatcher list and viaduct's settings.
    ds_list = os.path.join(args.work, "dispatcher.list")
    with open(os.path.join(args.data, "dispatcher.list"), encoding="utf-8") as f:
        text = f.read()
    for k, v in addrs.items():
        text = text.replace("{" + k + "}", v)
    with open(ds_list, "w", encoding="utf-8") as f:
        f.write(text)
    toml = os.path.join(args.work, "viaduct.toml")
    with open(toml, "w", encoding="utf-8") as f:
        f.write(f"""[dpdk]
eal_args = ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--log-level=lib.eal:error",
            "--vdev=net_af_packet0,iface=eth0", "--lcores", "0-1"]
mbufs = 4095

[[interface]]
port = "net_af_packet0"
address = "{addrs['LB']}/24"

[metrics]
listen = "127.0.0.1:{args.metrics_port}"
""")

    cfgs = {}
    for name in scripts:
        with open(os.path.join(args.data, name), encoding="utf-8") as f:
            text = f.read()
        subst = dict(addrs)
        subst["DSLIST"] = ds_list
        for k, v in subst.items():
            text = text.replace("{" + k + "}", v)
        path = os.path.join(args.work, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        cfgs[name] = path

    fails = []
    kam = {}
    t0 = time.monotonic()

    def run_kamailio(name, tag):
        """One Kamailio run of one script: (order, by_cid), or None when it did not start."""
        sid = name[:2]
        log = open(os.path.join(args.work, f"{sid}.{tag}.log"), "w")
        proc = subprocess.Popen(netns_cmd(args.lb, [
            "kamailio", "-f", cfgs[name], "-DD", "-E", "-m", "32", "-M", "8",
            "-w", args.work, "-P", os.path.join(args.work, f"{sid}.{tag}.pid")]),
            stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_udp_bound(args.lb, addrs["LB"], proc):
                print(f"FAIL - {name}: Kamailio did not start:")
                with open(log.name, encoding="utf-8", errors="replace") as lf:
                    print("".join(lf.readlines()[-15:]))
                return None
            # Kamailio binds its socket before its UDP worker runs; give the worker a moment.
            time.sleep(0.3)
            run = lab.run_messages(sid, script_msgs[sid])
            dump(os.path.join(args.work, f"{sid}.{tag}.txt"), run, addrs["LB"])
            return run
        finally:
            stop(proc)
            log.close()

    # The reviewed Kamailio outcomes.
    outcomes_path = os.path.join(args.data, "kamailio-outcomes.txt")
    expected = {}
    if os.path.exists(outcomes_path):
        with open(outcomes_path, encoding="utf-8") as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    key, _, what = line.rstrip("\n").partition(": ")
                    expected[key] = what
    updating = os.environ.get("VD_DIFF_UPDATE") == "1"

    def off_review(sid, run):
        order, by_cid = run
        return [f"{sid} {m['num']}" for m, cid in order
                if expected.get(f"{sid} {m['num']}") not in
                (None, outcome_summary(by_cid.get(cid, [])))]

    # Phase 1: Kamailio, on a kernel address.
    subprocess.run(netns_cmd(args.lb, ["ip", "addr", "add", f"{addrs['LB']}/24", "dev", "eth0"]),
                   check=True)
    for name in scripts:
        run = run_kamailio(name, "kamailio")
        if run is not None and not updating and off_review(name[:2], run):
            # A Kamailio start that lost a message (seen once in CI: the first message of a run
            # forwarded nowhere) is run once more; a difference that stays still fails below.
            print(f"note: {name}: Kamailio differs from the reviewed list at "
                  f"{', '.join(off_review(name[:2], run))}; running it once more")
            run = run_kamailio(name, "kamailio-retry")
        if run is None:
            fails.append(f"{name}: Kamailio did not start (see {name[:2]}.kamailio.log)")
        else:
            kam[name[:2]] = run
    # VD_DIFF_SELFCHECK=1: the second side is Kamailio again instead of viaduct. Every script
    # must then match: the normalisation is enough and the runs are deterministic.
    selfcheck = os.environ.get("VD_DIFF_SELFCHECK") == "1"
    side = "kamailio-again" if selfcheck else "viaduct"
    second = {}
    if selfcheck:
        for name in scripts:
            if name[:2] in kam:
                second[name[:2]] = run_kamailio(name, "kamailio2")
    subprocess.run(netns_cmd(args.lb, ["ip", "addr", "flush", "dev", "eth0"]), check=True)
    t1 = time.monotonic()

    got = {}
    for sid, (order, by_cid) in kam.items():
        for msg, cid in order:
            got[f"{sid} {msg['num']}"] = outcome_summary(by_cid.get(cid, []))
    if updating:
        merged = dict(expected)
        merged.update(got)
        with open(outcomes_path, "w", encoding="utf-8") as f:
            f.write("# SPDX-License-Identifier: Apache-2.0\n"
                    "# What Kamailio 5.6 does with each script (NN) and message (MM), as recorded\n"
                    "# by diff_kamailio.py with VD_DIFF_UPDATE=1 and reviewed. Generated.\n")
            for key in sorted(merged):
                f.write(f"{key}: {merged[key]}\n")
        print(f"wrote {outcomes_path}")
    else:
        for key, what in sorted(got.items()):
            if key not in expected:
                fails.append(f"{key}: no reviewed Kamailio outcome (run with VD_DIFF_UPDATE=1)")
            elif expected[key] != what:
                fails.append(f"script {key[:2]} message {key[3:]}: Kamailio now gives "
                             f"'{what}', the reviewed list says '{expected[key]}'")

    # Phase 2: viaduct, net_af_packet on the same veth.
    results = {}
    timing = {}

    def compare(sid, vd, vd_notes):
        """Kamailio's run against the second one: results[sid]."""
        order, kam_by_cid = kam[sid]
        _, vd_by_cid = vd
        diffs = []
        for msg, cid in order:
            a = render_events(kam_by_cid.get(cid, []), addrs["LB"])
            b = render_events(vd_by_cid.get(cid, []), addrs["LB"])
            if a != b:
                d = difflib.unified_diff(a, b, f"kamailio {sid}/{msg['num']}",
                                         f"{side} {sid}/{msg['num']}", lineterm="", n=2)
                k_sum = outcome_summary(kam_by_cid.get(cid, []))
                v_sum = outcome_summary(vd_by_cid.get(cid, []))
                if (render_events(kam_by_cid.get(cid, []), addrs["LB"], True)
                        == render_events(vd_by_cid.get(cid, []), addrs["LB"], True)):
                    v_sum += " [cosmetic only: header order, Via parameter order or port]"
                elif vd_notes.get(cid):
                    v_sum += f" [{vd_notes[cid]}]"
                diffs.append((msg["num"], msg["desc"], k_sum, v_sum, "\n".join(d)))
        # Datagrams that belong to no message of the run (a probe, a loop, a stray
        # retransmission) must match too: Kamailio sends none here.
        cids = {cid for _, cid in order}
        k_stray = [e for c, es in sorted(kam_by_cid.items()) if c not in cids for e in es]
        v_stray = [e for c, es in sorted(vd_by_cid.items()) if c not in cids for e in es]
        a = render_events(k_stray, addrs["LB"])
        b = render_events(v_stray, addrs["LB"])
        if a != b:
            d = difflib.unified_diff(a, b, f"kamailio {sid}/other", f"{side} {sid}/other",
                                     lineterm="", n=2)
            diffs.append(("--", "datagrams matching no message", outcome_summary(k_stray),
                          outcome_summary(v_stray), "\n".join(d)))
        results[sid] = ("match", None) if not diffs else ("DIFFER", diffs)

    for name in scripts:
        sid = name[:2]
        if sid not in kam:
            continue
        if selfcheck:
            vd, vd_notes = second[sid], {}
            if vd is None:
                results[sid] = ("second Kamailio run did not start", "")
                continue
            timing[sid] = {}
            compare(sid, vd, vd_notes)
            continue
        chk = subprocess.run([args.viaduct, "-c", "-f", cfgs[name], "-s", toml],
                             capture_output=True, text=True)
        if chk.returncode != 0:
            results[sid] = ("viaduct rejects script", f"viaduct -c: exit status "
                            f"{chk.returncode}\n{(chk.stdout + chk.stderr).strip()}")
            continue
        ts = [time.monotonic()]
        log = open(os.path.join(args.work, f"{sid}.viaduct.log"), "w")
        proc = subprocess.Popen(netns_cmd(args.lb, [args.viaduct, "-f", cfgs[name], "-s", toml]),
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_metrics(args.lb, args.metrics_port, proc):
                log.flush()
                with open(log.name, encoding="utf-8", errors="replace") as lf:
                    text = lf.read()[-2000:]
                results[sid] = ("viaduct did not start", f"exit status {proc.poll()}\n{text}")
                continue
            ts.append(time.monotonic())
            # Each host's MAC known before the first message (on a loaded machine 0.2 s was not
            # always enough: a first INVITE went as no_neighbour). Bounded: 5 s, then on.
            want = len(lab.client) + len(lab.captures[::len(BACKEND_PORTS)])
            if not wait_neighbours(lab, args.lb, args.metrics_port, want):
                print(f"note: {sid}: viaduct knew fewer than {want} neighbours after 5 s",
                      file=sys.stderr)
            time.sleep(0.2)
            # What viaduct counted for each message: names the drop reason of a "nothing".
            vd_notes = {}
            last = [counters(fetch_metrics(args.lb, args.metrics_port))]

            def note(cid):
                now = counters(fetch_metrics(args.lb, args.metrics_port))
                delta = [k.replace("drops:", "drop ").replace("sip_p:", "parse error ")
                         for k, v in now.items() if v > last[0].get(k, 0)
                         and k != "drops:no_listener"]
                last[0] = now
                if delta:
                    vd_notes[cid] = ", ".join(sorted(delta))

            vd = lab.run_messages(sid, script_msgs[sid], note)
            ts.append(time.monotonic())
            dump(os.path.join(args.work, f"{sid}.viaduct.txt"), vd, addrs["LB"])
            with open(os.path.join(args.work, f"{sid}.viaduct.metrics"), "w") as mf:
                mf.write(fetch_metrics(args.lb, args.metrics_port))
        finally:
            stop(proc)
            log.close()
        ts.append(time.monotonic())
        timing[sid] = {"start_s": round(ts[1] - ts[0], 2), "messages_s": round(ts[2] - ts[1], 2),
                       "stop_s": round(ts[3] - ts[2], 2)}
        compare(sid, vd, vd_notes)
    t2 = time.monotonic()

    # Report.
    summary = {}
    print()
    for name in scripts:
        sid = name[:2]
        if sid not in results:
            continue
        verdict, detail = results[sid]
        summary[name] = verdict
        if verdict == "match":
            print(f"ok   - {name}: match ({len(script_msgs[sid])} messages)")
            continue
        fails.append(f"{name}: {verdict}")
        print(f"FAIL - {name}: {verdict}")
        if verdict == "DIFFER":
            for num, desc, k_sum, v_sum, d in detail:
                print(f"  message {num} ({desc}): Kamailio: {k_sum}; {side}: {v_sum}")
            for num, desc, k_sum, v_sum, d in detail:
                print(d)
        else:
            print("  " + detail.replace("\n", "\n  "))
    with open(os.path.join(args.work, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"scripts": summary, "kamailio_s": round(t1 - t0, 1),
                   "viaduct_s": round(t2 - t1, 1), "viaduct_runs": timing}, f, indent=1)
    print(f"\ntimes: Kamailio phase {t1 - t0:.1f} s, {side} phase {t2 - t1:.1f} s")
    matched = sum(1 for v in summary.values() if v == "match")
    print(f"diff: {matched} of {len(scripts)} scripts match, {len(fails)} failures")
    for f in fails:
        if not any(f.startswith(n) for n in summary):
            print(f"FAIL - {f}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
