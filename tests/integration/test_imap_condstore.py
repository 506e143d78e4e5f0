# SPDX-License-Identifier: MIT
"""CONDSTORE and QRESYNC (RFC 7162): enabling (SELECT (CONDSTORE),
ENABLE, a MODSEQ fetch), MODSEQ in FETCH, HIGHESTMODSEQ in SELECT and
STATUS, STORE (UNCHANGEDSINCE) with [MODIFIED], FETCH (CHANGEDSINCE),
QRESYNC resynchronisation after another session changed flags and
expunged messages (VANISHED (EARLIER) and exactly the changed FETCHes),
UID FETCH (CHANGEDSINCE VANISHED), VANISHED instead of EXPUNGE, and the
[CLOSED] response code.
"""

import re

from mssgate_test import Tap
from imap_target import (expand_set, flagset, make_message, resp_code_value,
                         run, start_target, status_items)

t = Tap()
T = start_target()


def setup(n):
    user, pw = T.new_user("cs")
    uids = []
    for i in range(n):
        a = T.append(user, make_message("a@b.example", user, "m%d" % i))
        uids.append(int(resp_code_value(a, "APPENDUID").split()[1]))
    return user, pw, uids


def modseqs(resp):
    """{uid or seq: modseq} of the FETCH responses."""
    out = {}
    for seq, v in resp.fetches():
        if "MODSEQ" in v:
            out[v.get("UID", seq)] = v["MODSEQ"][0]
    return out


def vanished(resp, earlier):
    out = []
    for l in resp.lines():
        m = re.match(r"\* VANISHED (\(EARLIER\) )?(\S+)$", l, re.I)
        if m and bool(m.group(1)) == earlier:
            out += expand_set(m.group(2))
    return sorted(out)


def test_select_condstore():
    user, pw, uids = setup(3)
    r = T.session(user, pw)
    resp = r.cmd("SELECT INBOX (CONDSTORE)")
    t.eq(resp.status, "OK", "SELECT INBOX (CONDSTORE): OK")
    h = resp_code_value(resp, "HIGHESTMODSEQ")
    t.like(h, r"^[1-9]\d*$", "SELECT (CONDSTORE): [HIGHESTMODSEQ n]")
    h = int(h or 0)
    resp = r.cmd("FETCH 1:* (FLAGS MODSEQ)")
    ms = modseqs(resp)
    t.eq(sorted(ms), [1, 2, 3], "FETCH MODSEQ: a value for each message")
    t.ok(ms and all(0 < v <= h for v in ms.values()),
         "each MODSEQ is positive and <= HIGHESTMODSEQ", (h, ms))
    resp = r.cmd("STORE 2 +FLAGS (\\Flagged)")
    f = resp.fetch_map().get(2, {})
    m2 = (f.get("MODSEQ") or [0])[0]
    t.ok(m2 > h, "STORE: the FETCH has a new, larger MODSEQ", (h, f))
    resp = r.cmd("FETCH 2 (MODSEQ)")
    t.eq(modseqs(resp), {2: m2}, "FETCH MODSEQ agrees")
    r2 = T.session(user, pw)
    st = status_items(r2.cmd("STATUS INBOX (HIGHESTMODSEQ)"))
    t.eq(st, {"HIGHESTMODSEQ": m2}, "STATUS HIGHESTMODSEQ follows")
    resp = r2.cmd("EXAMINE INBOX (CONDSTORE)")
    t.eq(resp_code_value(resp, "HIGHESTMODSEQ"), str(m2),
         "EXAMINE (CONDSTORE): the same HIGHESTMODSEQ")
    r2.logout()
    resp = r.cmd("SELECT INBOX (FOO)")
    t.eq(resp.status, "BAD", "SELECT with an unknown parameter: BAD")
    r.logout()


def test_enable_and_implicit():
    user, pw, uids = setup(2)
    r = T.session(user, pw)
    resp = r.cmd("ENABLE CONDSTORE")
    t.eq(resp.find("ENABLED"), ["* ENABLED CONDSTORE"], "ENABLE CONDSTORE")
    resp = r.select("INBOX")
    t.like(resp_code_value(resp, "HIGHESTMODSEQ"), r"^\d+$",
           "after ENABLE CONDSTORE, SELECT gives HIGHESTMODSEQ")
    resp = r.cmd("STORE 1 +FLAGS (\\Seen)")
    t.ok("MODSEQ" in resp.fetch_map().get(1, {}),
         "after ENABLE, STORE's FETCH carries MODSEQ", resp)
    r.logout()
    # A FETCH of MODSEQ enables CONDSTORE for the session (RFC 7162 3.1)
    r = T.session(user, pw, select="INBOX")
    r.cmd("FETCH 1 (MODSEQ)")
    resp = r.cmd("STORE 2 +FLAGS (\\Seen)")
    t.ok("MODSEQ" in resp.fetch_map().get(2, {}),
         "after FETCH MODSEQ, STORE's FETCH carries MODSEQ", resp)
    r.logout()


def test_unchangedsince():
    user, pw, uids = setup(3)
    a = T.session(user, pw)
    a.cmd("SELECT INBOX (CONDSTORE)")
    ms = modseqs(a.cmd("FETCH 1:3 (MODSEQ)"))
    base = max(list(ms.values()) or [0])
    b = T.session(user, pw, select="INBOX")
    b.cmd("STORE 2 +FLAGS (\\Answered)")
    b.logout()
    resp = a.cmd("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % base)
    t.eq(resp.status, "OK", "STORE (UNCHANGEDSINCE): OK")
    t.eq(expand_set(resp_code_value(resp, "MODIFIED")), [2],
         "[MODIFIED 2]: the message another session changed")
    fl = {s: flagset(v.get("FLAGS")) for s, v in
          a.cmd("FETCH 1:2 (FLAGS)").fetch_map().items()}
    t.ok("\\Seen" in fl.get(1, ()) and "\\Seen" not in fl.get(2, ()),
         "message 1 stored, message 2 left alone", fl)
    resp = a.cmd("STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)")
    t.eq(expand_set(resp_code_value(resp, "MODIFIED")), [1, 2, 3],
         "UNCHANGEDSINCE 0 fails for every message")
    fl = a.cmd("FETCH 1:3 (FLAGS)").fetch_map()
    t.ok(all("\\Draft" not in flagset(v.get("FLAGS")) for v in fl.values()),
         "nothing stored with UNCHANGEDSINCE 0", fl)
    cur = modseqs(a.cmd("UID FETCH 1:* (MODSEQ)"))
    resp = a.cmd("UID STORE %d,%d (UNCHANGEDSINCE %d) FLAGS (\\Flagged)" %
                  (uids[0], uids[2], cur.get(uids[2], 0)))
    mod = expand_set(resp_code_value(resp, "MODIFIED"))
    t.eq(mod, [uids[0]] if cur.get(uids[0], 0) > cur.get(uids[2], 0)
         else [],
         "UID STORE (UNCHANGEDSINCE): [MODIFIED] lists UIDs")
    f = {v["UID"]: v for _, v in resp.fetches()}
    t.ok("MODSEQ" in f.get(uids[2], {}),
         "UID STORE (UNCHANGEDSINCE): FETCH with UID and MODSEQ", resp)
    resp = a.cmd("STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)")
    t.eq(resp.status, "BAD", "UNCHANGEDSINCE x: BAD")
    a.logout()


def test_changedsince():
    user, pw, uids = setup(4)
    a = T.session(user, pw)
    resp = a.cmd("SELECT INBOX (CONDSTORE)")
    h = int(resp_code_value(resp, "HIGHESTMODSEQ"))
    b = T.session(user, pw, select="INBOX")
    b.cmd("STORE 3 +FLAGS (\\Answered)")
    b.logout()
    a.cmd("NOOP")
    resp = a.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h)
    fm = resp.fetch_map()
    t.eq(sorted(fm), [3], "FETCH (CHANGEDSINCE): only message 3")
    t.ok("MODSEQ" in fm.get(3, {}) and fm[3]["MODSEQ"][0] > h and
         "\\Answered" in flagset(fm[3].get("FLAGS")),
         "FETCH (CHANGEDSINCE) includes MODSEQ and the new flags", fm)
    resp = a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h)
    t.eq([v.get("UID") for _, v in resp.fetches()], [uids[2]],
         "UID FETCH (CHANGEDSINCE): only the changed UID")
    resp = a.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % (h + 1000))
    t.ok(resp.ok and not resp.fetches(),
         "CHANGEDSINCE above everything: no FETCH", resp)
    resp = a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % h)
    t.eq(resp.status, "BAD", "VANISHED without ENABLE QRESYNC: BAD")
    a.logout()


def test_qresync_select():
    user, pw, uids = setup(5)
    s1 = T.session(user, pw)
    s1.cmd("ENABLE QRESYNC")
    resp = s1.select("INBOX")
    uv = int(resp_code_value(resp, "UIDVALIDITY"))
    h = int(resp_code_value(resp, "HIGHESTMODSEQ"))
    s1.logout()
    s2 = T.session(user, pw, select="INBOX")
    s2.cmd("UID STORE %d +FLAGS (\\Flagged)" % uids[1])
    s2.cmd("UID STORE %d +FLAGS (\\Deleted)" % uids[3])
    s2.cmd("EXPUNGE")
    s2.logout()
    s3 = T.session(user, pw)
    resp = s3.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv, h))
    t.eq(resp.status, "BAD", "SELECT (QRESYNC) before ENABLE QRESYNC: BAD")
    resp = s3.cmd("ENABLE QRESYNC")
    t.ok(any("QRESYNC" in l.upper() for l in resp.find("ENABLED")),
         "ENABLE QRESYNC", resp)
    resp = s3.cmd("SELECT INBOX (QRESYNC (%d %d %d:%d))" %
                  (uv, h, uids[0], uids[-1]))
    t.eq(resp.status, "OK", "SELECT INBOX (QRESYNC (uv modseq uids)): OK")
    t.eq(vanished(resp, True), [uids[3]],
         "* VANISHED (EARLIER) lists exactly the expunged UID")
    t.eq(vanished(resp, False), [], "no VANISHED without (EARLIER)")
    fetched = sorted(v.get("UID") for _, v in resp.fetches())
    t.eq(fetched, [uids[1]], "FETCH of exactly the changed message")
    f = [v for _, v in resp.fetches()]
    t.ok(f and "\\Flagged" in flagset(f[0].get("FLAGS")) and
         f[0].get("MODSEQ", [0])[0] > h,
         "its FETCH has FLAGS and a MODSEQ above the known one", f)
    t.eq(resp.numbers("EXISTS"), [4], "* 4 EXISTS")
    t.eq(resp.numbers("EXPUNGE"), [], "no * n EXPUNGE with QRESYNC")
    newh = int(resp_code_value(resp, "HIGHESTMODSEQ") or 0)
    t.ok(newh > h, "new HIGHESTMODSEQ above the known one", (h, newh))
    # without known UIDs: the same answer
    s4 = T.session(user, pw)
    s4.cmd("ENABLE QRESYNC")
    resp = s4.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv, h))
    t.eq((vanished(resp, True), sorted(v.get("UID") for _, v in
                                       resp.fetches())),
         ([uids[3]], [uids[1]]),
         "QRESYNC without known UIDs: same VANISHED and FETCH")
    resp = s4.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv + 1, h))
    t.ok(resp.ok and not vanished(resp, True) and not resp.fetches(),
         "QRESYNC with a wrong UIDVALIDITY: a plain SELECT", resp)
    t.ok(resp.find("OK [CLOSED]") != [] or
         any("[CLOSED]" in l for l in resp.lines()),
         "re-SELECT with QRESYNC enabled: * OK [CLOSED] first", resp)
    resp = s4.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv, newh))
    t.ok(resp.ok and not vanished(resp, True) and not resp.fetches(),
         "QRESYNC from the current HIGHESTMODSEQ: nothing to resync", resp)
    s4.logout()
    s3.logout()


def test_uid_fetch_vanished():
    user, pw, uids = setup(4)
    a = T.session(user, pw)
    a.cmd("ENABLE QRESYNC")
    resp = a.select("INBOX")
    h = int(resp_code_value(resp, "HIGHESTMODSEQ"))
    b = T.session(user, pw, select="INBOX")
    b.cmd("UID STORE %d +FLAGS (\\Deleted)" % uids[0])
    b.cmd("EXPUNGE")
    b.cmd("UID STORE %d +FLAGS (\\Seen)" % uids[2])
    b.logout()
    resp = a.cmd("NOOP")
    t.eq(vanished(resp, False), [uids[0]],
         "with QRESYNC, another session's expunge is * VANISHED uid")
    t.eq(resp.numbers("EXPUNGE"), [], "and not * n EXPUNGE")
    resp = a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % h)
    t.eq(resp.status, "OK", "UID FETCH (CHANGEDSINCE VANISHED): OK")
    t.eq(vanished(resp, True), [uids[0]],
         "UID FETCH VANISHED: * VANISHED (EARLIER) uid")
    t.eq(sorted(v.get("UID") for _, v in resp.fetches()), [uids[2]],
         "UID FETCH VANISHED: FETCH of the changed UID only")
    resp = a.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % h)
    t.eq(resp.status, "BAD", "VANISHED with FETCH (not UID FETCH): BAD")
    resp = a.cmd("UID FETCH 1:* (FLAGS) (VANISHED)")
    t.eq(resp.status, "BAD", "VANISHED without CHANGEDSINCE: BAD")
    a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    resp = a.cmd("EXPUNGE")
    t.eq((vanished(resp, False), resp.numbers("EXPUNGE")), ([uids[1]], []),
         "own EXPUNGE with QRESYNC: * VANISHED uid")
    a.logout()


def test_closed():
    user, pw, uids = setup(1)
    r = T.session(user, pw)
    r.cmd("ENABLE QRESYNC")
    r.select("INBOX")
    resp = r.cmd("SELECT Sent")
    lines = resp.lines()
    t.ok(lines and re.match(r"\* OK \[CLOSED\]", lines[0], re.I),
         "SELECT while selected (QRESYNC on): * OK [CLOSED] first",
         lines)
    t.eq(resp.numbers("EXISTS"), [0], "then the new mailbox: * 0 EXISTS")
    r.logout()


run(t, T, test_select_condstore, test_enable_and_implicit,
    test_unchangedsince, test_changedsince, test_qresync_select,
    test_uid_fetch_vanished, test_closed)
