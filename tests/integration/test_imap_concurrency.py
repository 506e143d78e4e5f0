# SPDX-License-Identifier: MIT
"""Two sessions on one mailbox (RFC 3501 5.2, 5.5, 7.4.1; RFC 2177
IDLE): new mail shows as * n EXISTS, the other session's STORE as
* n FETCH (FLAGS ...), its EXPUNGE as * n EXPUNGE, but never while a
FETCH, STORE or SEARCH is answered; IDLE is woken by new mail (delivered
over SMTP on mssgate, APPENDed on the reference), by flag changes and by
expunges, within a second; DONE ends it. Raw sockets throughout, so that
every untagged response is seen where it arrives.
"""

import re
import time

from mssgate_test import Tap
from imap_target import (Lit, flagset, make_message, run, start_target)

t = Tap()
T = start_target()


def setup(n):
    user, pw = T.new_user("cc")
    for i in range(n):
        T.append(user, make_message("a@b.example", user, "m%d" % i))
    return user, pw


def idle(r):
    tag = r.send_cmd("IDLE")
    resp = r.wait_continuation(tag, timeout=5)
    return tag, resp


def done(r, tag):
    r.send("DONE\r\n")
    return r.wait_tagged(tag, timeout=5)


def test_exists_after_new_mail():
    user, pw = setup(0)
    a = T.session(user, pw, select="INBOX")
    b = T.session(user, pw, select="INBOX")
    T.deliver(user, "first")
    ra = a.cmd("NOOP")
    rb = b.cmd("NOOP")
    t.eq(ra.numbers("EXISTS"), [1], "session A: * 1 EXISTS after delivery")
    t.eq(rb.numbers("EXISTS"), [1], "session B: * 1 EXISTS after delivery")
    t.eq([n for n in ra.numbers("RECENT") + rb.numbers("RECENT") if n],
         [1], "exactly one session is told * 1 RECENT")
    T.append(user, make_message("a@b.example", user, "second"))
    t.eq(a.cmd("NOOP").numbers("EXISTS"), [2], "A: * 2 EXISTS after APPEND")
    t.eq(a.cmd("NOOP").numbers("EXISTS"), [], "no repeated EXISTS")
    resp = b.cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    t.eq(resp.numbers("EXISTS"), [2],
         "B: * 2 EXISTS may come with a FETCH (EXISTS is allowed there)")
    a.logout()
    b.logout()


def test_flags_seen_by_other():
    user, pw = setup(2)
    a = T.session(user, pw, select="INBOX")
    b = T.session(user, pw, select="INBOX")
    b.cmd("STORE 1 +FLAGS (\\Flagged)")
    resp = a.cmd("NOOP")
    fm = resp.fetch_map()
    t.ok(1 in fm and "\\Flagged" in flagset(fm[1].get("FLAGS")),
         "A: * 1 FETCH (FLAGS (\\Flagged)) after B's STORE", resp)
    t.eq(sorted(fm), [1], "only message 1 reported")
    b.cmd("STORE 2 +FLAGS.SILENT ($Dossier)")
    resp = a.cmd("NOOP")
    fm = resp.fetch_map()
    t.ok(2 in fm and "$Dossier" in flagset(fm[2].get("FLAGS")),
         "A hears of B's silent keyword change too", resp)
    a.logout()
    b.logout()


def test_no_expunge_during_fetch_store_search():
    user, pw = setup(4)
    a = T.session(user, pw, select="INBOX")
    b = T.session(user, pw, select="INBOX")
    b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    resp = b.cmd("EXPUNGE")
    t.eq(resp.numbers("EXPUNGE"), [2], "B expunges message 2")
    time.sleep(0.3)
    resp = a.cmd("FETCH 1 (FLAGS)")
    t.eq(resp.numbers("EXPUNGE"), [], "no EXPUNGE while answering FETCH")
    t.eq(resp.status, "OK", "A: FETCH 1 OK")
    resp = a.cmd("STORE 1 +FLAGS (\\Seen)")
    t.eq(resp.numbers("EXPUNGE"), [], "no EXPUNGE while answering STORE")
    resp = a.cmd("SEARCH ALL")
    t.eq(resp.numbers("EXPUNGE"), [], "no EXPUNGE while answering SEARCH")
    resp = a.cmd("FETCH 4 (FLAGS)")
    t.ok(resp.status in ("OK", "NO") and not resp.numbers("EXPUNGE"),
         "A may still address message 4 of its view", resp)
    resp = a.cmd("NOOP")
    t.eq(resp.numbers("EXPUNGE"), [2], "A: * 2 EXPUNGE at NOOP")
    resp = a.cmd("FETCH 1:* (UID)")
    t.eq(sorted(resp.fetch_map()), [1, 2, 3], "A now sees three messages")
    # A's own EXPUNGE also reports B's expunges
    b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.cmd("EXPUNGE")
    time.sleep(0.3)
    told = []
    for c in ("CHECK", "EXPUNGE", "NOOP"):
        resp = a.cmd(c)
        t.eq(resp.status, "OK", "A: %s OK" % c)
        told += resp.numbers("EXPUNGE")
    t.eq(told, [1], "A is told once of B's expunge of message 1 (at "
         "CHECK, EXPUNGE or NOOP)")
    a.logout()
    b.logout()


def test_pipelining():
    user, pw = setup(2)
    a = T.session(user, pw, select="INBOX")
    a.send(b"p1 NOOP\r\np2 FETCH 1:2 (FLAGS)\r\np3 STORE 2 +FLAGS "
           b"(\\Seen)\r\np4 SEARCH SEEN\r\np5 NOOP\r\n")
    tags = []
    out = []
    while len(tags) < 5:
        line = a.read_response(5)
        out.append(line)
        m = re.match(rb"(p\d) (OK|NO|BAD)", line)
        if m:
            tags.append((m.group(1).decode(), m.group(2).decode()))
    # RFC 3501 5.5: tagged responses may come in another order.
    t.eq(sorted(tags), [("p1", "OK"), ("p2", "OK"), ("p3", "OK"),
                        ("p4", "OK"), ("p5", "OK")],
         "five pipelined commands each answered OK")
    t.ok(b"* SEARCH 2" in out, "the pipelined SEARCH sees the pipelined "
         "STORE", out)
    a.logout()


def wait_exists(r, n, timeout):
    start = time.time()
    m, seen = r.wait_for(rb"^\* (\d+) EXISTS", timeout)
    return (int(m.group(1)) if m else None), time.time() - start, seen


def test_idle_new_mail():
    user, pw = setup(1)
    a = T.session(user, pw, select="INBOX")
    tag, resp = idle(a)
    t.ok(resp is None and a.last_continuation.startswith(b"+"),
         "IDLE: continuation '+'", resp)
    lat = []
    for n in (2, 3, 4):
        T.deliver(user, "idle %d" % n)
        got, dt, seen = wait_exists(a, n, 5)
        lat.append(dt)
        t.eq(got, n, "IDLE: * %d EXISTS for new mail" % n)
    t.diag("IDLE wake-up after delivery returned: %s ms" %
           ", ".join("%.0f" % (x * 1000) for x in lat))
    t.ok(max(lat) < 1.0, "IDLE woken within a second of each delivery",
         lat)
    resp = done(a, tag)
    t.eq(resp.status, "OK", "DONE: tagged OK")
    t.eq(a.cmd("NOOP").numbers("EXISTS"), [], "nothing repeated after DONE")
    a.logout()


def test_idle_flags_and_expunge():
    user, pw = setup(3)
    a = T.session(user, pw, select="INBOX")
    b = T.session(user, pw, select="INBOX")
    tag, _ = idle(a)
    start = time.time()
    b.cmd("STORE 2 +FLAGS (\\Answered)")
    m, seen = a.wait_for(rb"^\* 2 FETCH \(.*\\Answered", 5)
    dt = time.time() - start
    t.ok(m is not None, "IDLE: * 2 FETCH (FLAGS (\\Answered)) for B's STORE",
         seen)
    t.ok(dt < 1.0, "flag change seen within a second (%.0f ms)" %
         (dt * 1000))
    b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    start = time.time()
    b.cmd("EXPUNGE")
    m, seen = a.wait_for(rb"^\* 1 EXPUNGE", 5)
    dt = time.time() - start
    t.ok(m is not None, "IDLE: * 1 EXPUNGE for B's EXPUNGE", seen)
    t.ok(dt < 1.0, "expunge seen within a second (%.0f ms)" % (dt * 1000))
    resp = done(a, tag)
    t.eq(resp.status, "OK", "DONE after notifications: OK")
    resp = a.cmd("FETCH 1:* (UID)")
    t.eq(sorted(resp.fetch_map()), [1, 2], "two messages left for A")
    a.logout()
    b.logout()


def test_idle_other_mailbox_and_states():
    user, pw = setup(0)
    r = T.session(user, pw)
    r.cmd("CREATE Other")
    r.select("INBOX")
    tag, _ = idle(r)
    T.append(user, make_message("a@b.example", user, "elsewhere"),
             mailbox="Other")
    extra = r.read_untagged(1.5)
    t.eq([x for x in extra if re.match(rb"\* \d+ EXISTS", x)], [],
         "mail for another mailbox does not wake IDLE on INBOX")
    t.eq(done(r, tag).status, "OK", "DONE: OK")
    r.cmd("UNSELECT")
    tag, resp = idle(r)
    t.ok(resp is None, "IDLE in authenticated state: '+'", resp)
    t.eq(done(r, tag).status, "OK", "IDLE in authenticated state: DONE OK")
    r.select("INBOX")
    tag, _ = idle(r)
    r.send("NOOP\r\n")
    resp = r.wait_tagged(tag, 5)
    t.eq(resp.status, "BAD", "IDLE ended by something else than DONE: BAD")
    t.eq(r.cmd("NOOP").status, "OK", "session usable after the bad IDLE")
    r.logout()
    r = T.raw()
    resp = r.cmd("IDLE")
    t.eq(resp.status, "BAD", "IDLE before login: BAD")
    r.close()


def test_idle_literal_and_many_sessions():
    # Five IDLE sessions on one mailbox all hear of one delivery.
    user, pw = setup(0)
    sess = [T.session(user, pw, select="INBOX") for _ in range(5)]
    tags = [idle(s)[0] for s in sess]
    T.deliver(user, "for everyone")
    got = [wait_exists(s, 1, 5)[0] for s in sess]
    t.eq(got, [1] * 5, "five IDLE sessions each get * 1 EXISTS")
    t.eq([done(s, tg).status for s, tg in zip(sess, tags)], ["OK"] * 5,
         "five DONEs: OK")
    for s in sess:
        s.logout()
    # APPEND with a literal from one session wakes another in IDLE.
    a = T.session(user, pw, select="INBOX")
    b = T.session(user, pw)
    tag, _ = idle(a)
    b.cmd(["APPEND INBOX ", Lit(make_message("a@b.example", user, "lit"))])
    got, dt, _ = wait_exists(a, 2, 5)
    t.eq(got, 2, "APPEND from another session wakes IDLE: * 2 EXISTS")
    done(a, tag)
    a.logout()
    b.logout()


run(t, T, test_exists_after_new_mail, test_flags_seen_by_other,
    test_no_expunge_during_fetch_store_search, test_pipelining,
    test_idle_new_mail, test_idle_flags_and_expunge,
    test_idle_other_mailbox_and_states, test_idle_literal_and_many_sessions)
