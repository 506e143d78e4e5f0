# SPDX-License-Identifier: MIT
"""Acknowledged mail survives kill -9. Twenty clients submit concurrently
over STARTTLS; the daemon is killed with SIGKILL in the middle of the run,
three times over; after each restart every message that received 250 is
in the recipient's mailbox exactly once and byte-identical, and every
stored message is one that a client sent in full (none half-written, none
duplicated). The mailbox counters agree with what is stored.
"""

import base64
import json
import os
import random
import re
import threading
import time

from mssgate_test import Gateway, Tap, run_tests, strip_trace

t = Tap()
N_CLIENTS = 20
ROUNDS = 3

gw = Gateway(extra={"network_threads": "2"})
gw.start()
ALICE = "alice@" + gw.domain
BOB = "bob@" + gw.domain
PW = gw.add_user(ALICE)
gw.add_user(BOB)

sent = {}        # id -> bytes handed to the server (DATA completed or not)
acked = set()    # ids that got 250
lock = threading.Lock()


def make(mid):
    rnd = random.Random(mid)
    body = "".join("%s line %d of %s\r\n" % ("x" * rnd.randint(0, 120), i, mid)
                   for i in range(rnd.randint(1, 80)))
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: durability %s\r\n"
            "Message-ID: <%s@client.test>\r\nX-Test-Id: %s\r\n"
            "Date: Sun, 22 Nov 2026 10:00:00 +0100\r\n\r\n%s"
            % (ALICE, BOB, mid, mid, mid, body)).encode()


def client(round_no, n, stop):
    i = 0
    try:
        c = gw.smtp(login=ALICE, password=PW)
    except Exception:  # noqa: BLE001 - the daemon may already be gone
        return
    while not stop.is_set():
        mid = "r%d-c%d-m%d" % (round_no, n, i)
        i += 1
        msg = make(mid)
        with lock:
            sent[mid] = msg
        try:
            refused = c.sendmail(ALICE, [BOB], msg)
        except Exception:  # noqa: BLE001 - killed mid-transaction
            return
        if refused == {}:
            with lock:
                acked.add(mid)


def stored_messages():
    p = gw.cli("--json", "message", "export", BOB, "INBOX", check=True)
    out = []
    for line in p.stdout.decode().splitlines():
        o = json.loads(line)
        out.append((o["uid"], base64.b64decode(o["data_b64"])))
    return out


def check_round(round_no):
    msgs = stored_messages()
    ids = {}
    bad = []
    for uid, data in msgs:
        body = strip_trace(data)
        m = re.search(rb"X-Test-Id: (\S+)\r\n", body)
        mid = m.group(1).decode() if m else None
        if mid is None or sent.get(mid) != body:
            bad.append((uid, mid, len(body)))
        ids.setdefault(mid, []).append(uid)
    missing = sorted(acked - set(ids))
    dups = {k: v for k, v in ids.items() if len(v) > 1}
    t.ok(not missing, "round %d: all %d acknowledged messages present"
         % (round_no, len(acked)), "missing: %r" % missing[:20])
    t.ok(not bad, "round %d: every stored message is intact (%d stored)"
         % (round_no, len(msgs)), "bad: %r" % bad[:20])
    t.ok(not dups, "round %d: no message stored twice" % round_no,
         "dups: %r" % list(dups.items())[:10])
    unacked = len(set(ids) - acked)
    t.diag("round %d: %d acked, %d stored, %d committed without their 250"
           % (round_no, len(acked), len(msgs), unacked))
    p = gw.cli("--json", "mailbox", "list", BOB, check=True)
    inbox = [json.loads(l) for l in p.stdout.decode().splitlines()
             if json.loads(l)["name"] == "INBOX"][0]
    t.eq(inbox["messages"], len(msgs),
         "round %d: INBOX counter equals the stored count" % round_no)
    uids = [u for u, _ in msgs]
    t.ok(uids == sorted(set(uids)) and (not uids or
                                        inbox["uidnext"] > uids[-1]),
         "round %d: UIDs strictly increase, uidnext beyond them" % round_no)


def test_kill9_rounds():
    for round_no in range(1, ROUNDS + 1):
        before = len(acked)
        stop = threading.Event()
        threads = [threading.Thread(target=client, args=(round_no, n, stop))
                   for n in range(N_CLIENTS)]
        for th in threads:
            th.start()
        # Let the load build up, then kill in the middle of it.
        deadline = time.time() + 20
        while len(acked) < before + 200 and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(random.uniform(0.0, 0.3))
        gw.kill9()
        stop.set()
        for th in threads:
            th.join(30)
        t.ok(len(acked) - before >= 200,
             "round %d: load was running when killed (%d acked)"
             % (round_no, len(acked) - before))
        gw.start()
        check_round(round_no)

    # The store takes new mail after the last crash.
    c = gw.smtp(login=ALICE, password=PW)
    msg = make("after-crash")
    sent["after-crash"] = msg
    t.eq(c.sendmail(ALICE, [BOB], msg), {}, "delivery works after restart")
    acked.add("after-crash")
    c.quit()
    check_round(ROUNDS + 1)
    rc = gw.stop()
    t.eq(rc, 0, "SIGTERM after the crashes: clean exit 0")


try:
    run_tests(t, test_kill9_rounds)
finally:
    gw.cleanup()
