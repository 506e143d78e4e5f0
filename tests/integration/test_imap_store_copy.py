# SPDX-License-Identifier: MIT
"""STORE, COPY, MOVE, EXPUNGE, CLOSE, UNSELECT, CHECK and read-only
EXAMINE (RFC 3501 6.4; RFC 4315 UIDPLUS; RFC 6851 MOVE; RFC 3691
UNSELECT): FLAGS/+FLAGS/-FLAGS and .SILENT, keywords that persist,
\\Recent given to one session only, COPYUID, EXPUNGE numbering, UID
EXPUNGE, CLOSE expunging silently while UNSELECT does not.
"""

import re

from mssgate_test import Tap
from imap_target import (MSSGATE, Lit, expand_set, flagset, human_text,
                         make_message, resp_code_value, run, skip,
                         start_target, status_items)

t = Tap()
T = start_target()


def mk(user, subject):
    return make_message("a@b.example", user, subject)


def setup(n, flags=None, dates=None):
    user, pw = T.new_user("sc")
    uids = []
    for i in range(n):
        a = T.append(user, mk(user, "m%d" % (i + 1)),
                     flags=flags[i] if flags else None,
                     date=dates[i] if dates else None)
        uids.append(int(resp_code_value(a, "APPENDUID").split()[1]))
    r = T.session(user, pw, select="INBOX")
    return user, r, uids


def flags_of(r, seq):
    f = r.cmd("FETCH %d (FLAGS)" % seq).fetch_map().get(seq, {})
    return flagset(f.get("FLAGS")) - {"\\Recent"}


def apply_expunges(resp, uids):
    """The UIDs left after the * n EXPUNGE responses of resp, in order."""
    left = list(uids)
    for n in resp.numbers("EXPUNGE"):
        del left[n - 1]
    return left


def test_store():
    user, r, uids = setup(3)
    resp = r.cmd("STORE 1 FLAGS (\\Seen \\Flagged)")
    t.eq(resp.status, "OK", "STORE FLAGS: OK")
    f = resp.fetch_map().get(1, {})
    t.eq(flagset(f.get("FLAGS")) - {"\\Recent"}, {"\\Seen", "\\Flagged"},
         "STORE FLAGS: * 1 FETCH (FLAGS (\\Seen \\Flagged))")
    resp = r.cmd("STORE 1 +FLAGS (\\Answered)")
    t.eq(flagset(resp.fetch_map().get(1, {}).get("FLAGS")) - {"\\Recent"},
         {"\\Seen", "\\Flagged", "\\Answered"}, "+FLAGS adds")
    resp = r.cmd("STORE 1 -FLAGS (\\Seen)")
    t.eq(flagset(resp.fetch_map().get(1, {}).get("FLAGS")) - {"\\Recent"},
         {"\\Flagged", "\\Answered"}, "-FLAGS removes")
    resp = r.cmd("STORE 1 +FLAGS.SILENT (\\Draft)")
    t.ok(resp.ok and not resp.fetches(), "+FLAGS.SILENT: OK, no FETCH",
         resp)
    t.eq(flags_of(r, 1), {"\\Flagged", "\\Answered", "\\Draft"},
         "the silent change was made")
    resp = r.cmd("STORE 1 -FLAGS.SILENT (\\Draft \\Answered)")
    t.ok(resp.ok and not resp.fetches(), "-FLAGS.SILENT: no FETCH", resp)
    resp = r.cmd("STORE 1 FLAGS.SILENT ()")
    t.ok(resp.ok and not resp.fetches(), "FLAGS.SILENT (): no FETCH", resp)
    t.eq(flags_of(r, 1), set(), "FLAGS () cleared every flag")
    resp = r.cmd("STORE 1:3 +FLAGS (\\Deleted)")
    t.eq(sorted(resp.fetch_map()), [1, 2, 3],
         "STORE 1:3: a FETCH for each message")
    resp = r.cmd("STORE 1:3 -FLAGS \\Deleted")
    t.eq(resp.status, "OK", "STORE with a single flag not in a list: OK")
    resp = r.cmd("UID STORE %d +FLAGS (\\Flagged)" % uids[1])
    f = resp.fetch_map().get(2, {})
    t.eq((f.get("UID"), "\\Flagged" in flagset(f.get("FLAGS"))),
         (uids[1], True), "UID STORE: the FETCH carries the UID")
    resp = r.cmd("STORE 1 +FLAGS (\\Recent)")
    t.eq(resp.status, "BAD", "STORE \\Recent: BAD (clients cannot set it)")
    resp = r.cmd("STORE 1 +FLAGS (\\Bogus)")
    t.eq(resp.status, "BAD", "STORE of an unknown system flag: BAD")
    resp = r.cmd("STORE 1 SETFLAGS (\\Seen)")
    t.eq(resp.status, "BAD", "STORE with an unknown operation: BAD")
    resp = r.cmd("STORE 4 +FLAGS (\\Seen)")
    t.eq(resp.status, "BAD", "STORE of message 4 of 3: BAD")
    t.ok(human_text(resp), "STORE of a missing message: a text", resp)
    r.logout()


def test_keywords():
    user, r, uids = setup(2)
    resp = r.cmd("STORE 1 +FLAGS ($Urgent Dossier-42)")
    t.eq(flagset(resp.fetch_map().get(1, {}).get("FLAGS")) - {"\\Recent"},
         {"$Urgent", "Dossier-42"}, "keywords stored")
    resp = r.cmd("STORE 2 +FLAGS ($urgent)")
    t.ok(resp.ok, "keywords are case-insensitive on STORE", resp)
    r.logout()
    r = T.session(user, select="INBOX")
    f1 = flags_of(r, 1)
    t.eq(f1, {"$Urgent", "Dossier-42"}, "keywords persist across sessions")
    f2 = {x.lower() for x in flags_of(r, 2)}
    t.eq(f2, {"$urgent"}, "the same keyword on message 2")
    perm = resp_code_value(r.select("INBOX"), "PERMANENTFLAGS")
    t.ok(perm is not None and "\\*" in perm,
         "PERMANENTFLAGS includes \\* (new keywords allowed)", perm)
    resp = r.cmd("SEARCH KEYWORD Dossier-42")
    t.eq(resp.search(), [1], "SEARCH KEYWORD finds the stored keyword")
    resp = r.cmd("STORE 1 -FLAGS (Dossier-42)")
    r.logout()
    r = T.session(user, select="INBOX")
    t.eq(flags_of(r, 1), {"$Urgent"}, "keyword removal persists")
    r.logout()


def test_recent():
    user, pw = T.new_user("rec")
    T.append(user, mk(user, "first"))
    a = T.session(user, pw)
    resp = a.select("INBOX")
    t.eq(resp.numbers("RECENT"), [1], "first session: * 1 RECENT")
    fa = a.cmd("FETCH 1 FLAGS").fetch_map().get(1, {})
    t.ok("\\Recent" in flagset(fa.get("FLAGS")),
         "first session: \\Recent flag", fa)
    b = T.session(user, pw)
    resp = b.select("INBOX")
    t.eq(resp.numbers("RECENT"), [0], "second session: * 0 RECENT")
    fb = b.cmd("FETCH 1 FLAGS").fetch_map().get(1, {})
    t.ok("FLAGS" in fb and "\\Recent" not in flagset(fb.get("FLAGS")),
         "second session: no \\Recent flag", fb)
    t.eq(a.cmd("SEARCH RECENT").search(), [1], "SEARCH RECENT in the first")
    t.eq(b.cmd("SEARCH RECENT").search(), [], "SEARCH RECENT in the second")
    # New mail while both are selected: exactly one of them gets \Recent.
    T.append(user, mk(user, "second"))
    recent = 0
    for s in (a, b):
        s.cmd("NOOP")
        f = s.cmd("FETCH 2 FLAGS").fetch_map().get(2, {})
        recent += "\\Recent" in flagset(f.get("FLAGS"))
    t.eq(recent, 1, "new mail: \\Recent in exactly one of two sessions")
    a.logout()
    b.logout()
    c = T.session(user, pw)
    resp = c.select("INBOX")
    t.eq(resp.numbers("RECENT"), [0],
         "a later session: nothing is recent any more")
    c.logout()


def test_copy():
    dates = ["01-Mar-2021 08:30:00 +0000", "02-Mar-2021 09:30:00 +0000",
             "03-Mar-2021 10:30:00 +0000"]
    user, r, uids = setup(3, flags=[["\\Flagged", "$Label1"], ["\\Seen"],
                                    []], dates=dates)
    r.cmd("CREATE Dest")
    uv = status_items(r.cmd("STATUS Dest (UIDVALIDITY)"))["UIDVALIDITY"]
    resp = r.cmd("COPY 1:2 Dest")
    t.eq(resp.status, "OK", "COPY 1:2 Dest: OK")
    code = resp_code_value(resp, "COPYUID")
    parts = (code or "").split()
    t.eq(len(parts), 3, "COPY: [COPYUID uidvalidity src dst] (UIDPLUS)")
    if len(parts) == 3:
        t.eq(int(parts[0]), uv, "COPYUID: the destination UIDVALIDITY")
        t.eq(expand_set(parts[1]), uids[:2], "COPYUID: the source UIDs")
        dst = expand_set(parts[2])
        t.eq(len(dst), 2, "COPYUID: two destination UIDs")
    else:
        dst = []
    t.eq(resp.numbers("EXPUNGE"), [], "COPY expunges nothing")
    t.eq(sorted(r.cmd("FETCH 1:* (UID)").fetch_map()), [1, 2, 3],
         "the source keeps its messages")
    resp = r.cmd("UID COPY %d Dest" % uids[2])
    code = resp_code_value(resp, "COPYUID") or ""
    t.like(code, r"^%d %d \d+$" % (uv, uids[2]), "UID COPY: COPYUID")
    st = status_items(r.cmd("STATUS Dest (MESSAGES RECENT)"))
    t.eq(st, {"MESSAGES": 3, "RECENT": 3},
         "Dest has three messages, \\Recent set on the copies")
    d = T.session(user, select="Dest")
    resp = d.cmd("UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])")
    byuid = {v["UID"]: v for _, v in resp.fetches()}
    if dst:
        f = byuid.get(dst[0], {})
        t.eq(flagset(f.get("FLAGS")) - {"\\Recent"},
             {"\\Flagged", "$Label1"}, "flags and keywords copied")
        t.ok(b"\r\nSubject: m1\r\n" in f.get("BODY[]", b""),
             "the copy is the message", f)
        from_date = f.get("INTERNALDATE", b"").decode()
        t.like(from_date, r"^ ?0?1-Mar-2021 ", "INTERNALDATE kept by COPY")
        t.eq(flagset(byuid.get(dst[1], {}).get("FLAGS")) - {"\\Recent"},
             {"\\Seen"}, "\\Seen copied")
    d.logout()
    resp = r.cmd("COPY 1 Nowhere")
    t.eq(resp.status, "NO", "COPY to a missing mailbox: NO")
    t.eq(resp.code, "TRYCREATE", "COPY to a missing mailbox: [TRYCREATE]")
    t.eq(r.cmd("COPY 9 Dest").status, "BAD", "COPY of message 9 of 3: BAD")
    t.eq(r.cmd("UID COPY 999999 Dest").status, "OK",
         "UID COPY of no existing UID: OK (nothing copied)")
    t.eq(status_items(r.cmd("STATUS Dest (MESSAGES)")), {"MESSAGES": 3},
         "nothing more in Dest")
    r.logout()


def test_move():
    user, r, uids = setup(4, flags=[[], ["\\Flagged"], [], []])
    r.cmd("CREATE Dest")
    uv = status_items(r.cmd("STATUS Dest (UIDVALIDITY)"))["UIDVALIDITY"]
    resp = r.cmd("MOVE 2 Dest")
    t.eq(resp.status, "OK", "MOVE 2 Dest: OK")
    lines = resp.lines()
    t.eq(resp.numbers("EXPUNGE"), [2], "MOVE: * 2 EXPUNGE")
    cu = [i for i, l in enumerate(lines) if "[COPYUID" in l.upper()]
    ex = [i for i, l in enumerate(lines) if re.match(r"\* \d+ EXPUNGE", l)]
    t.ok(cu and ex and cu[0] < ex[0],
         "MOVE: untagged OK [COPYUID ...] before the EXPUNGE (RFC 6851)",
         lines)
    m = re.search(r"\[COPYUID (\d+) (\S+) (\S+)\]", " ".join(lines))
    t.ok(m and int(m.group(1)) == uv and expand_set(m.group(2)) ==
         [uids[1]], "MOVE: COPYUID names the moved UID", lines)
    t.eq(sorted(r.cmd("FETCH 1:* (UID)").fetch_map()), [1, 2, 3],
         "source has three messages left")
    resp = r.cmd("UID MOVE %d Dest" % uids[3])
    t.eq(resp.numbers("EXPUNGE"), [3], "UID MOVE: * 3 EXPUNGE")
    t.ok(resp_code_value(resp, "COPYUID") is not None,
         "UID MOVE: COPYUID", resp)
    resp = r.cmd("MOVE 1 Nowhere")
    t.eq((resp.status, resp.code), ("NO", "TRYCREATE"),
         "MOVE to a missing mailbox: NO [TRYCREATE]")
    t.eq(resp.numbers("EXPUNGE"), [], "a failed MOVE expunges nothing")
    d = T.session(user, select="Dest")
    resp = d.cmd("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    got = sorted((v["BODY[HEADER.FIELDS (SUBJECT)]"],
                  "\\Flagged" in flagset(v["FLAGS"]))
                 for _, v in resp.fetches())
    t.eq(got, [(b"Subject: m2\r\n\r\n", True),
               (b"Subject: m4\r\n\r\n", False)],
         "Dest holds m2 (still \\Flagged) and m4")
    d.logout()
    r.logout()


def test_expunge():
    user, r, uids = setup(5)
    resp = r.cmd("EXPUNGE")
    t.ok(resp.ok and not resp.numbers("EXPUNGE"),
         "EXPUNGE with nothing deleted: OK, no response", resp)
    r.cmd("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    resp = r.cmd("EXPUNGE")
    t.eq(resp.status, "OK", "EXPUNGE: OK")
    t.eq(len(resp.numbers("EXPUNGE")), 2, "two * n EXPUNGE responses")
    left = apply_expunges(resp, uids)
    t.eq(left, [uids[0], uids[2], uids[4]],
         "EXPUNGE numbers, applied in order, leave messages 1, 3, 5")
    resp = r.cmd("FETCH 1:* (UID)")
    t.eq([v["UID"] for _, v in sorted(resp.fetches())], left,
         "FETCH agrees with the renumbering")
    r.cmd("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    resp = r.cmd("UID EXPUNGE %d" % uids[2])
    t.eq(resp.numbers("EXPUNGE"), [2], "UID EXPUNGE: only that UID (* 2 "
         "EXPUNGE)")
    resp = r.cmd("FETCH 1:* (UID FLAGS)")
    t.eq([v["UID"] for _, v in sorted(resp.fetches())],
         [uids[0], uids[4]], "the other \\Deleted messages stay")
    resp = r.cmd("UID EXPUNGE %d" % (uids[4] + 1000))
    t.ok(resp.ok and not resp.numbers("EXPUNGE"),
         "UID EXPUNGE of an unknown UID: OK, nothing", resp)
    r.logout()
    r = T.session(user, select="INBOX")
    resp = r.cmd("UID SEARCH ALL")
    t.eq(sorted(resp.search()), [uids[0], uids[4]],
         "expunged messages are gone for good")
    # UIDs are never reused: expunge everything (both left are
    # \Deleted), append again.
    resp = r.cmd("EXPUNGE")
    t.eq(len(resp.numbers("EXPUNGE")), 2, "EXPUNGE of the last two")
    resp = r.cmd(["APPEND INBOX ", Lit(mk(user, "after"))])
    code = (resp_code_value(resp, "APPENDUID") or "0 0").split()
    t.ok(int(code[1]) > uids[4],
         "a new message after expunging UID %d gets a larger UID (%s)" %
         (uids[4], code[1]))
    seen = resp.numbers("EXISTS") + r.cmd("NOOP").numbers("EXISTS")
    t.eq(seen[-1:], [1], "the session sees * 1 EXISTS (at APPEND or NOOP)")
    r.logout()


def test_close_unselect_check():
    user, r, uids = setup(3)
    t.eq(r.cmd("CHECK").status, "OK", "CHECK: OK")
    r.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    resp = r.cmd("CLOSE")
    t.eq(resp.status, "OK", "CLOSE: OK")
    t.eq(resp.numbers("EXPUNGE"), [], "CLOSE: no untagged EXPUNGE")
    t.eq(r.cmd("FETCH 1 FLAGS").status, "BAD", "after CLOSE: FETCH is BAD")
    t.eq(status_items(r.cmd("STATUS INBOX (MESSAGES)")), {"MESSAGES": 2},
         "CLOSE expunged the \\Deleted message")
    r.select("INBOX")
    r.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    resp = r.cmd("UNSELECT")
    t.ok(resp.ok and not resp.numbers("EXPUNGE"), "UNSELECT: OK, no "
         "EXPUNGE", resp)
    t.eq(r.cmd("FETCH 1 FLAGS").status, "BAD",
         "after UNSELECT: FETCH is BAD")
    t.eq(status_items(r.cmd("STATUS INBOX (MESSAGES)")), {"MESSAGES": 2},
         "UNSELECT expunged nothing")
    r.select("INBOX", examine=True)
    resp = r.cmd("CLOSE")
    t.eq(resp.status, "OK", "CLOSE of an EXAMINEd mailbox: OK")
    t.eq(status_items(r.cmd("STATUS INBOX (MESSAGES)")), {"MESSAGES": 2},
         "CLOSE after EXAMINE removes nothing")
    t.eq(r.cmd("CLOSE").status, "BAD", "CLOSE with nothing selected: BAD")
    t.eq(r.cmd("UNSELECT").status, "BAD",
         "UNSELECT with nothing selected: BAD")
    t.eq(r.cmd("CHECK").status, "BAD", "CHECK with nothing selected: BAD")
    t.eq(r.cmd("EXPUNGE").status, "BAD",
         "EXPUNGE with nothing selected: BAD")
    r.logout()


def test_examine_read_only():
    user, r, uids = setup(2)
    r.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    r.cmd("UNSELECT")
    resp = r.select("INBOX", examine=True)
    t.eq(resp_code_value(resp, "READ-ONLY"), "", "EXAMINE: [READ-ONLY]")
    resp = r.cmd("STORE 1 +FLAGS (\\Flagged)")
    t.ok(resp.status in ("NO", "OK"), "STORE in EXAMINE: NO (or OK "
         "without effect)", resp)
    resp = r.cmd("FETCH 1 (BODY[])")
    t.eq(resp.status, "OK", "FETCH BODY[] in EXAMINE: OK")
    resp = r.cmd("EXPUNGE")
    t.ok(resp.status in ("NO", "BAD", "OK") and not resp.numbers("EXPUNGE"),
         "EXPUNGE in EXAMINE removes nothing", resp)
    r.cmd("CREATE Other")
    t.eq(r.cmd("COPY 1 Other").status, "OK", "COPY from EXAMINE: OK")
    o = T.session(user, select="INBOX")
    resp = o.cmd("FETCH 1:2 (FLAGS)")
    fm = resp.fetch_map()
    t.eq(sorted(fm), [1, 2], "both messages still there")
    t.eq(flagset(fm.get(1, {}).get("FLAGS")) - {"\\Recent"}, set(),
         "no \\Flagged and no \\Seen stored through EXAMINE")
    if MSSGATE:
        resp = r.cmd("MOVE 1 Other")
        t.ok(resp.status == "NO" and not resp.numbers("EXPUNGE"),
             "MOVE from EXAMINE: NO (read-only, RFC 3501 6.3.2)", resp)
        t.eq(sorted(o.cmd("FETCH 1:* (UID)").fetch_map()), [1, 2],
             "nothing moved out of the read-only mailbox")
    else:
        skip(t, "MOVE from EXAMINE: NO", "Dovecot 2.3 moves and expunges "
             "from a mailbox opened with EXAMINE")
        skip(t, "nothing moved out of the read-only mailbox", "idem")
    o.logout()
    r.logout()


def test_append_literal_flags():
    # flags given with APPEND are the flags of the message, \Recent aside
    user, pw = T.new_user("apf")
    r = T.session(user, pw)
    resp = r.cmd(["APPEND INBOX (\\Seen \\Draft $Draft2) ",
                  Lit(mk(user, "draft"))])
    t.eq(resp.status, "OK", "APPEND with three flags: OK")
    r.select("INBOX")
    t.eq(flags_of(r, 1), {"\\Seen", "\\Draft", "$Draft2"},
         "APPENDed flags stored")
    r.logout()


run(t, T, test_store, test_keywords, test_recent, test_copy, test_move,
    test_expunge, test_close_unselect_check, test_examine_read_only,
    test_append_literal_flags)
