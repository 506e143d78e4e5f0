# SPDX-License-Identifier: MIT
"""APPEND and FETCH (RFC 3501 6.3.11, 6.4.5, 6.4.8, 7.4.2; RFC 4315
APPENDUID): flags and dates on APPEND, every FETCH item (FLAGS,
INTERNALDATE, RFC822.SIZE, RFC822, RFC822.HEADER, RFC822.TEXT, ENVELOPE,
BODY, BODYSTRUCTURE with extension data, BODY[section]<partial> with
HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, MIME, TEXT and nested part
numbers, BODY.PEEK), \\Seen side effects, the ALL/FAST/FULL macros,
sequence sets and UID FETCH. Messages are APPENDed, so their bytes are
known exactly.
"""

import datetime

from mssgate_test import Tap, strip_trace
from imap_target import (MSSGATE, PASSWORD, Lit, flagset, human_text,
                         make_message, mssgate_only, resp_code_value, run,
                         skip, start_target)

t = Tap()
T = start_target()

CRLF = b"\r\n"


def crlf(text):
    return text.replace("\n", "\r\n").encode()


SIMPLE_HDR = crlf("""Date: Mon, 7 Feb 1994 21:52:25 -0800
From: Fred Foobar <foobar@Blurdybloop.example>
Subject: afternoon meeting
To: mooch@owatagu.example
Cc: "Dr. Who" <who@tardis.example>, team: a@b.example, c@d.example;
Reply-To: replies@Blurdybloop.example
Message-Id: <B27397-0100000@Blurdybloop.example>
In-Reply-To: <parent@Blurdybloop.example>
X-Extra: one
MIME-Version: 1.0
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII
""")
SIMPLE_BODY = crlf("""Hello Joe, do you think we can meet at 3:30 tomorrow?
Second line.
""")
SIMPLE = SIMPLE_HDR + CRLF + SIMPLE_BODY

SIMPLE_ENVELOPE = [
    b"Mon, 7 Feb 1994 21:52:25 -0800", b"afternoon meeting",
    [[b"Fred Foobar", None, b"foobar", b"Blurdybloop.example"]],
    [[b"Fred Foobar", None, b"foobar", b"Blurdybloop.example"]],
    [[None, None, b"replies", b"Blurdybloop.example"]],
    [[None, None, b"mooch", b"owatagu.example"]],
    [[b"Dr. Who", None, b"who", b"tardis.example"],
     [None, None, b"team", None],
     [None, None, b"a", b"b.example"],
     [None, None, b"c", b"d.example"],
     [None, None, None, None]],
    None, b"<parent@Blurdybloop.example>",
    b"<B27397-0100000@Blurdybloop.example>"]


def lines(b):
    return b.count(b"\n")


# A multipart/mixed: text/plain (quoted-printable), message/rfc822 holding
# a multipart/alternative, application/pdf attachment (base64).
P1_HDR = crlf("""Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable
""")
P1_BODY = crlf("""Bonjour, voici le compte rendu d'=C3=A9chographie.
Cordialement.
""")
IN1_HDR = crlf("Content-Type: text/plain; charset=us-ascii\n")
IN1_BODY = crlf("inner text\n")
IN2_HDR = crlf("Content-Type: text/html; charset=us-ascii\n")
IN2_BODY = crlf("<p>inner html</p>\n")
INNER_HDR = crlf("""From: c@labo.example
To: a@hopital.example
Subject: inner
Date: Mon, 13 Jan 2025 09:00:00 +0000
Message-ID: <inner@labo.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"
""")
INNER_BODY = (b"--inner\r\n" + IN1_HDR + CRLF + IN1_BODY +
              b"\r\n--inner\r\n" + IN2_HDR + CRLF + IN2_BODY +
              b"\r\n--inner--\r\n")
INNER = INNER_HDR + CRLF + INNER_BODY
P2_HDR = crlf("Content-Type: message/rfc822\n")
P2_BODY = INNER
P3_HDR = crlf("""Content-Type: application/pdf; name="cr.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="cr.pdf"
Content-ID: <pdf1@hopital.example>
Content-Description: Compte rendu
Content-Language: fr
""")
P3_BODY = (b"JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRl"
           b"ci9GbGF0ZURl\r\n"
           b"Y29kZT4+CnN0cmVhbQp4nDPQM1Qo5ypUMFAwALJMLU31jBQsTAz1LBSKUrnCtRTy"
           b"uAIBAC5DBjUK\r\n")
MP_HDR = crlf("""From: "Dr. A" <a@hopital.example>
To: b@clinique.example
Subject: =?UTF-8?Q?Compte_rendu_d'=C3=A9chographie?=
Date: Tue, 14 Jan 2025 10:00:00 +0100
Message-ID: <mp1@hopital.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"
""")
MP_BODY = (b"This is a multi-part message in MIME format.\r\n"
           b"--outer\r\n" + P1_HDR + CRLF + P1_BODY +
           b"\r\n--outer\r\n" + P2_HDR + CRLF + P2_BODY +
           b"\r\n--outer\r\n" + P3_HDR + CRLF + P3_BODY +
           b"\r\n--outer--\r\n")
MULTIPART = MP_HDR + CRLF + MP_BODY

INNER_ENVELOPE = [
    b"Mon, 13 Jan 2025 09:00:00 +0000", b"inner",
    [[None, None, b"c", b"labo.example"]],
    [[None, None, b"c", b"labo.example"]],
    [[None, None, b"c", b"labo.example"]],
    [[None, None, b"a", b"hopital.example"]],
    None, None, None, b"<inner@labo.example>"]

INNER_BS = [
    [b"TEXT", b"PLAIN", [b"CHARSET", b"US-ASCII"], None, None, b"7BIT",
     len(IN1_BODY), lines(IN1_BODY)],
    [b"TEXT", b"HTML", [b"CHARSET", b"US-ASCII"], None, None, b"7BIT",
     len(IN2_BODY), lines(IN2_BODY)],
    b"ALTERNATIVE", [b"BOUNDARY", b"INNER"]]
MP_BODYSTRUCTURE = [
    [b"TEXT", b"PLAIN", [b"CHARSET", b"UTF-8"], None, None,
     b"QUOTED-PRINTABLE", len(P1_BODY), lines(P1_BODY)],
    [b"MESSAGE", b"RFC822", None, None, None, b"7BIT", len(P2_BODY),
     INNER_ENVELOPE, INNER_BS, lines(P2_BODY)],
    [b"APPLICATION", b"PDF", [b"NAME", b"CR.PDF"], b"<PDF1@HOPITAL.EXAMPLE>",
     b"COMPTE RENDU", b"BASE64", len(P3_BODY), None,
     [b"ATTACHMENT", [b"FILENAME", b"CR.PDF"]], b"FR"],
    b"MIXED", [b"BOUNDARY", b"OUTER"]]
# BODY: the same without extension data
MP_BODY_NOEXT = [
    MP_BODYSTRUCTURE[0],
    [b"MESSAGE", b"RFC822", None, None, None, b"7BIT", len(P2_BODY),
     INNER_ENVELOPE, INNER_BS[:3], lines(P2_BODY)],
    MP_BODYSTRUCTURE[2][:7], b"MIXED"]


def norm(v, strip=True):
    """Body structures compared without case (MIME names are case
    insensitive), () as NIL and trailing NIL extension fields dropped
    (RFC 3501 9: body-ext-* may end early), and a language list of one
    tag as that tag (body-fld-lang is a string or a list): no other part
    of a body structure is a list of one string."""
    if isinstance(v, list):
        if len(v) == 1 and isinstance(v[0], bytes):
            return norm(v[0])
        out = [norm(x, strip) for x in v]
        if strip:
            while out and out[-1] is None:
                out.pop()
        return out if out else None
    if isinstance(v, (bytes, str)):
        return (v.encode() if isinstance(v, str) else v).upper()
    return v


def norm_env(v):
    """Envelope values: strings as bytes, lists kept."""
    if isinstance(v, list):
        return [norm_env(x) for x in v]
    if isinstance(v, str):
        return v.encode()
    return v


def idate(v):
    s = v.decode() if isinstance(v, bytes) else v
    return datetime.datetime.strptime(s.strip(), "%d-%b-%Y %H:%M:%S %z")


def setup(msgs):
    """A fresh user with msgs appended to INBOX, and a session on it."""
    user, pw = T.new_user("fetch")
    uids = []
    for m in msgs:
        if isinstance(m, tuple):
            m, flags, date = m
        else:
            flags, date = None, None
        a = T.append(user, m, flags=flags, date=date)
        uids.append(int(resp_code_value(a, "APPENDUID").split()[1]))
    r = T.session(user, pw, select="INBOX")
    return user, r, uids


def one(resp, seq=1):
    return resp.fetch_map().get(seq, {})


def test_append():
    user, pw = T.new_user("app")
    r = T.session(user, pw)
    resp = r.cmd(['APPEND INBOX (\\Flagged $Label1) '
                  '"07-Feb-1994 21:52:25 -0800" ', Lit(SIMPLE)])
    t.eq(resp.status, "OK", "APPEND with flags and date: OK")
    code = resp_code_value(resp, "APPENDUID")
    t.like(code, r"^[1-9]\d* [1-9]\d*$", "APPEND: [APPENDUID uidvalidity "
           "uid] (UIDPLUS)")
    uv, uid = (int(x) for x in code.split())
    resp = r.cmd(["APPEND INBOX ", Lit(make_message("a@b.example", user,
                                                     "plain"))])
    code2 = resp_code_value(resp, "APPENDUID")
    t.eq(code2, "%d %d" % (uv, uid + 1),
         "second APPEND: same UIDVALIDITY, next UID")
    resp = r.cmd(["APPEND INBOX () ", Lit(make_message("a@b.example", user,
                                                        "empty flags"),
                                           plus=True)])
    t.eq(resp.status, "OK", "APPEND with () and a LITERAL+ literal: OK")
    resp = r.cmd(["APPEND nowhere ", Lit(SIMPLE)])
    t.eq(resp.status, "NO", "APPEND to a missing mailbox: NO")
    t.eq(resp.code, "TRYCREATE", "APPEND to a missing mailbox: [TRYCREATE]")
    resp = r.cmd(['APPEND INBOX "31-Foo-2020 99:00:00 +0000" ',
                  Lit(SIMPLE)])
    t.eq(resp.status, "BAD", "APPEND with an invalid date: BAD")
    resp = r.cmd(['APPEND INBOX (\\Bogus) ', Lit(SIMPLE)])
    t.eq(resp.status, "BAD", "APPEND with an unknown system flag: BAD")
    r.select("INBOX")
    resp = r.cmd("UID FETCH %d (FLAGS INTERNALDATE RFC822.SIZE)" % uid)
    f = one(resp)
    t.eq(f.get("UID"), uid, "UID FETCH of the APPENDUID uid")
    t.eq(flagset(f.get("FLAGS")) - {"\\Recent"}, {"\\Flagged", "$Label1"},
         "APPEND flags kept: \\Flagged $Label1")
    want = idate("07-Feb-1994 21:52:25 -0800")
    t.eq(f.get("INTERNALDATE") and idate(f["INTERNALDATE"]), want,
         "APPEND date is the INTERNALDATE (same instant)")
    t.eq(f.get("RFC822.SIZE"), len(SIMPLE), "RFC822.SIZE is the APPENDed "
         "size")
    resp = r.cmd("FETCH 2 INTERNALDATE")
    now = datetime.datetime.now(datetime.timezone.utc)
    got = idate(one(resp, 2)["INTERNALDATE"])
    t.ok(abs((now - got).total_seconds()) < 120,
         "APPEND without a date: INTERNALDATE is now", (now, got))
    # APPEND to the selected mailbox: the session hears of it
    other = T.session(user, pw)
    other.cmd(["APPEND INBOX ", Lit(SIMPLE)])
    other.logout()
    resp = r.cmd(["APPEND INBOX ", Lit(SIMPLE)])
    t.eq(resp.numbers("EXISTS")[-1:], [5],
         "APPEND to the selected mailbox: * 5 EXISTS")
    r.logout()


def test_simple_items():
    user, r, uids = setup([(SIMPLE, ["\\Flagged", "$Label1"],
                            "07-Feb-1994 21:52:25 -0800")])
    resp = r.cmd("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY "
                 "BODYSTRUCTURE UID)")
    t.eq(resp.status, "OK", "FETCH of seven items: OK")
    f = one(resp)
    t.eq(flagset(f.get("FLAGS")), {"\\Flagged", "$Label1", "\\Recent"},
         "FLAGS: \\Flagged $Label1 \\Recent")
    t.eq(f.get("RFC822.SIZE"), len(SIMPLE), "RFC822.SIZE")
    t.eq(f.get("UID"), uids[0], "UID")
    t.eq(norm_env(f.get("ENVELOPE")), SIMPLE_ENVELOPE,
         "ENVELOPE: date, subject, from, sender, reply-to, to, cc with a "
         "group, bcc, in-reply-to, message-id")
    body = [b"TEXT", b"PLAIN", [b"CHARSET", b"US-ASCII"], None, None,
            b"7BIT", len(SIMPLE_BODY), lines(SIMPLE_BODY)]
    t.eq(norm(f.get("BODY")), body, "BODY of a text/plain message")
    t.eq(norm(f.get("BODYSTRUCTURE")), body,
         "BODYSTRUCTURE of a text/plain message (no extension values)")
    resp = r.cmd("FETCH 1 (RFC822.HEADER)")
    t.eq(one(resp).get("RFC822.HEADER"), SIMPLE_HDR + CRLF,
         "RFC822.HEADER: the header and the blank line")
    resp = r.cmd("FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[1] "
                 "BODY.PEEK[])")
    f = one(resp)
    t.eq(f.get("BODY[HEADER]"), SIMPLE_HDR + CRLF, "BODY[HEADER]")
    t.eq(f.get("BODY[TEXT]"), SIMPLE_BODY, "BODY[TEXT]")
    t.eq(f.get("BODY[1]"), SIMPLE_BODY,
         "BODY[1] of a single-part message is its text")
    t.eq(f.get("BODY[]"), SIMPLE, "BODY[] is the whole message")
    resp = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject From)])")
    t.eq(one(resp).get("BODY[HEADER.FIELDS (SUBJECT FROM)]"),
         b"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
         b"Subject: afternoon meeting\r\n\r\n",
         "HEADER.FIELDS: the fields in message order, then a blank line")
    resp = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (x-extra)])")
    t.eq(one(resp).get("BODY[HEADER.FIELDS (X-EXTRA)]"),
         b"X-Extra: one\r\n\r\n", "HEADER.FIELDS names are "
         "case-insensitive")
    resp = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-Absent)])")
    t.eq(one(resp).get("BODY[HEADER.FIELDS (X-ABSENT)]"), b"\r\n",
         "HEADER.FIELDS of an absent field: just the blank line")
    resp = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Date From Subject "
                 "To Cc Reply-To Message-Id In-Reply-To MIME-Version "
                 "Content-Type)])")
    vals = list(one(resp).values())
    t.eq(vals, [b"X-Extra: one\r\n\r\n"],
         "HEADER.FIELDS.NOT: every other field")
    resp = r.cmd("FETCH 1 (BODY.PEEK[]<0.100> BODY.PEEK[TEXT]<10.20>)")
    f = one(resp)
    t.eq(f.get("BODY[]<0>"), SIMPLE[:100], "BODY[]<0.100>: first 100 "
         "octets, reported as BODY[]<0>")
    t.eq(f.get("BODY[TEXT]<10>"), SIMPLE_BODY[10:30],
         "BODY[TEXT]<10.20>: octets 10 to 29")
    n = len(SIMPLE)
    resp = r.cmd("FETCH 1 (BODY.PEEK[]<%d.100> BODY.PEEK[]<%d.10>)" %
                 (n - 5, n + 50))
    f = one(resp)
    t.eq(f.get("BODY[]<%d>" % (n - 5)), SIMPLE[-5:],
         "partial running past the end: the last 5 octets")
    t.eq(f.get("BODY[]<%d>" % (n + 50)), b"",
         "partial starting past the end: empty string")
    resp = r.cmd("FETCH 1 (BODY.PEEK[]<0.0>)")
    if mssgate_only(t, "partial of length 0: BAD",
                    "Dovecot accepts <0.0> and sends an empty string"):
        t.eq(resp.status, "BAD", "partial of length 0: BAD (the length is "
             "an nz-number)")
    r.logout()


def test_seen_side_effects():
    msgs = [make_message("a@b.example", "c@d.example", "s%d" % i)
            for i in range(5)]
    user, r, uids = setup(msgs)

    def seen(seq):
        f = one(r.cmd("FETCH %d (FLAGS)" % seq), seq)
        return "\\Seen" in flagset(f.get("FLAGS"))

    r.cmd("FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[HEADER] "
          "RFC822.HEADER RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
    t.ok(not seen(1), "BODY.PEEK[], RFC822.HEADER, ENVELOPE... leave "
         "\\Seen unset")
    resp = r.cmd("FETCH 2 (BODY[])")
    t.ok(seen(2), "BODY[] sets \\Seen")
    resp = r.cmd("FETCH 3 (RFC822)")
    f = one(resp, 3)
    t.eq(f.get("RFC822"), msgs[2], "RFC822 is the whole message")
    t.ok(seen(3), "RFC822 sets \\Seen")
    resp = r.cmd("FETCH 4 (RFC822.TEXT)")
    t.eq(one(resp, 4).get("RFC822.TEXT"), msgs[3].split(b"\r\n\r\n", 1)[1],
         "RFC822.TEXT is the body")
    t.ok(seen(4), "RFC822.TEXT sets \\Seen")
    r.cmd("FETCH 5 (BODY[HEADER.FIELDS (Subject)])")
    t.ok(seen(5), "BODY[HEADER.FIELDS ...] (no PEEK) sets \\Seen")
    r.logout()
    # the flag persisted
    r = T.session(user, select="INBOX")
    resp = r.cmd("FETCH 1:5 (FLAGS)")
    got = [("\\Seen" in flagset(v.get("FLAGS"))) for _, v in
           sorted(resp.fetch_map().items())]
    t.eq(got, [False, True, True, True, True],
         "\\Seen set by FETCH persists in the next session")
    r.logout()


def test_multipart():
    user, r, uids = setup([MULTIPART])
    resp = r.cmd("FETCH 1 (BODYSTRUCTURE BODY ENVELOPE)")
    f = one(resp)
    t.eq(norm(f.get("BODYSTRUCTURE")), norm(MP_BODYSTRUCTURE),
         "BODYSTRUCTURE of multipart/mixed (text/plain QP, message/rfc822 "
         "with multipart/alternative, application/pdf attachment) with "
         "extension data")
    bs = f.get("BODYSTRUCTURE") or [[]] * 3
    pdf = bs[2] if len(bs) > 2 and isinstance(bs[2], list) else []
    disp = pdf[8] if len(pdf) > 8 and isinstance(pdf[8], list) else None
    t.eq(disp and disp[1][1::2], [b"cr.pdf"],
         "disposition filename value kept exactly (cr.pdf)")
    t.ok(isinstance(bs, list) and len(bs) > 4 and
         isinstance(bs[4], list) and bs[4][1] == b"outer",
         "multipart boundary value kept exactly", bs[3:] if bs else bs)
    t.eq(norm(f.get("BODY"), strip=False), norm(MP_BODY_NOEXT, strip=False),
         "BODY of the same message: no extension data")
    env = norm_env(f.get("ENVELOPE"))
    t.eq(env and env[1], b"=?UTF-8?Q?Compte_rendu_d'=C3=A9chographie?=",
         "ENVELOPE subject is sent undecoded (RFC 2047 form)")
    items = ["BODY.PEEK[%s]" % s for s in (
        "1", "1.MIME", "2", "2.HEADER", "2.TEXT", "2.MIME", "2.1", "2.2",
        "2.1.MIME", "2.HEADER.FIELDS (Subject)", "3", "3.MIME", "TEXT",
        "HEADER")]
    resp = r.cmd("FETCH 1 (%s)" % " ".join(items))
    f = one(resp)
    want = {
        "1": P1_BODY, "1.MIME": P1_HDR + CRLF, "2": INNER,
        "2.HEADER": INNER_HDR + CRLF, "2.TEXT": INNER_BODY,
        "2.MIME": P2_HDR + CRLF, "2.1": IN1_BODY, "2.2": IN2_BODY,
        "2.1.MIME": IN1_HDR + CRLF,
        "2.HEADER.FIELDS (SUBJECT)": b"Subject: inner\r\n\r\n",
        "3": P3_BODY, "3.MIME": P3_HDR + CRLF, "TEXT": MP_BODY,
        "HEADER": MP_HDR + CRLF}
    for sec, val in want.items():
        t.eq(f.get("BODY[%s]" % sec), val, "BODY[%s]" % sec)
    resp = r.cmd("FETCH 1 (BODY.PEEK[3]<4.10> BODY.PEEK[2.1]<0.5>)")
    f = one(resp)
    t.eq((f.get("BODY[3]<4>"), f.get("BODY[2.1]<0>")),
         (P3_BODY[4:14], IN1_BODY[:5]), "partial fetch of nested parts")
    resp = r.cmd("FETCH 1 (BODY.PEEK[0])")
    if MSSGATE:
        t.eq(resp.status, "BAD", "BODY[0]: BAD (section-part is nz-number)")
    else:
        skip(t, "BODY[0]: BAD", "Dovecot accepts BODY[0]")
    resp = r.cmd("FETCH 1 (BODY.PEEK[1.FOO])")
    t.eq(resp.status, "BAD", "unknown section text: BAD")
    resp = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS ()])")
    t.eq(resp.status, "BAD", "HEADER.FIELDS with an empty list: BAD")
    r.logout()


def test_macros():
    user, r, uids = setup([SIMPLE])
    for macro, items in (("FAST", {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}),
                         ("ALL", {"FLAGS", "INTERNALDATE", "RFC822.SIZE",
                                  "ENVELOPE"}),
                         ("FULL", {"FLAGS", "INTERNALDATE", "RFC822.SIZE",
                                   "ENVELOPE", "BODY"})):
        resp = r.cmd("FETCH 1 %s" % macro)
        t.eq(set(one(resp)), items, "FETCH %s: %s" % (macro,
                                                      " ".join(sorted(items))))
    resp = r.cmd("FETCH 1 (FLAGS FAST)")
    t.eq(resp.status, "BAD", "a macro inside a list: BAD")
    resp = r.cmd("FETCH 1 (NO-SUCH-ITEM)")
    t.eq(resp.status, "BAD", "unknown FETCH item: BAD")
    t.ok(human_text(resp), "unknown FETCH item: a text", resp)
    resp = r.cmd("FETCH 1")
    t.eq(resp.status, "BAD", "FETCH without items: BAD")
    r.logout()


def test_sequence_sets():
    msgs = [make_message("a@b.example", "c@d.example", "m%d" % i)
            for i in range(6)]
    user, r, uids = setup(msgs)
    r.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    r.cmd("EXPUNGE")
    # now seq 1..5 are uids[0], uids[2..5]
    live = [uids[0]] + uids[2:]

    def seqs(cmd):
        resp = r.cmd(cmd)
        return sorted(resp.fetch_map()), resp

    def uidmap(cmd):
        resp = r.cmd(cmd)
        return {s: v.get("UID") for s, v in resp.fetch_map().items()}

    t.eq(seqs("FETCH 1:* (UID)")[0], [1, 2, 3, 4, 5], "1:*")
    t.eq(uidmap("FETCH * (UID)"), {5: live[4]}, "*: the last message")
    t.eq(seqs("FETCH 3:1 (UID)")[0], [1, 2, 3], "3:1 is 1:3")
    t.eq(seqs("FETCH 1,3,5 (UID)")[0], [1, 3, 5], "1,3,5")
    t.eq(seqs("FETCH 2:* (UID)")[0], [2, 3, 4, 5], "2:*")
    t.eq(seqs("FETCH *:4 (UID)")[0], [4, 5], "*:4")
    t.eq(seqs("FETCH 1:2,4:5 (UID)")[0], [1, 2, 4, 5], "1:2,4:5")
    t.eq(uidmap("FETCH 1:* (UID)"), dict(zip(range(1, 6), live)),
         "sequence numbers renumbered after EXPUNGE, UIDs kept")
    t.eq(uidmap("UID FETCH 1:* (FLAGS)"), dict(zip(range(1, 6), live)),
         "UID FETCH 1:* returns every message with its UID")
    t.eq(uidmap("UID FETCH %d (FLAGS)" % uids[1]), {},
         "UID FETCH of an expunged UID: no data")
    resp = r.cmd("UID FETCH %d (FLAGS)" % uids[1])
    t.eq(resp.status, "OK", "UID FETCH of an expunged UID: OK")
    t.eq(uidmap("UID FETCH %d:%d (FLAGS)" % (uids[3], uids[2])),
         {2: uids[2], 3: uids[3]}, "UID FETCH hi:lo")
    t.eq(uidmap("UID FETCH %d:* (FLAGS)" % (uids[5] + 100)), {5: uids[5]},
         "UID FETCH n:* with n past the last UID: the last message "
         "(RFC 3501 6.4.8)")
    t.eq(uidmap("UID FETCH %d,%d (FLAGS)" % (uids[0], uids[5])),
         {1: uids[0], 5: uids[5]}, "UID FETCH list")
    resp = r.cmd("UID FETCH 1:* (FLAGS)")
    t.ok(all("UID" in v for _, v in resp.fetches()),
         "UID FETCH responses carry UID though not asked")
    resp = r.cmd("FETCH 6 (UID)")
    t.eq(resp.status, "BAD", "FETCH of sequence number 6 of 5: BAD")
    resp = r.cmd("FETCH 4:9 (UID)")
    t.eq(resp.status, "BAD", "FETCH 4:9 of 5: BAD")
    r.logout()


def test_smtp_delivered():
    # mssgate: mail that arrived over SMTP is served like APPENDed mail,
    # with the gateway's trace header in front.
    names = ("SMTP-delivered message: BODY[] is the message with a "
             "Received header prepended",
             "SMTP-delivered message: RFC822.SIZE is the size served",
             "SMTP-delivered message: INTERNALDATE is the arrival time",
             "SMTP-delivered message: ENVELOPE from the header",
             "SMTP-delivered message: \\Recent, not \\Seen")
    if not MSSGATE:
        for n in names:
            skip(t, n, "mssgate delivers over SMTP; the reference gets "
                 "APPENDs")
        return
    user, pw = T.new_user("smtp")
    sender = T.smtp_sender()
    body = b"Ligne 1\r\n.Ligne avec un point\r\n\r\nFin.\r\n"
    msg = make_message(sender, user, "par SMTP", body=body)
    T.gw.deliver(sender, PASSWORD, [user], msg)
    r = T.session(user, pw, select="INBOX")
    resp = r.cmd("FETCH 1 (BODY.PEEK[] RFC822.SIZE INTERNALDATE ENVELOPE "
                 "FLAGS)")
    f = one(resp)
    got = f.get("BODY[]", b"")
    t.ok(got.startswith(b"Received: ") and got.endswith(msg) and
         strip_trace(got) == msg, names[0], got[:600])
    t.eq(f.get("RFC822.SIZE"), len(got), names[1])
    now = datetime.datetime.now(datetime.timezone.utc)
    idt = f.get("INTERNALDATE")
    t.ok(idt is not None and abs((now - idate(idt)).total_seconds()) < 120,
         names[2], idt)
    env = norm_env(f.get("ENVELOPE") or [])
    t.ok(env[1:3] == [b"par SMTP", [[None, None] +
                                    sender.encode().split(b"@")]],
         names[3], env)
    t.eq(flagset(f.get("FLAGS")), {"\\Recent"}, names[4])
    r.logout()


def test_imaplib_fetch():
    user, pw = T.new_user("lib")
    T.append(user, SIMPLE)
    c = T.imap(user, pw)
    c.select("INBOX")
    typ, data = c.fetch("1", "(RFC822)")
    t.ok(typ == "OK" and data[0][1] == SIMPLE, "imaplib FETCH RFC822",
         data[:1])
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    t.ok(typ == "OK" and data[0][1] == b"Subject: afternoon meeting\r\n\r\n",
         "imaplib UID FETCH HEADER.FIELDS", data[:1])
    typ, data = c.fetch("1", "(FLAGS)")
    t.ok(typ == "OK" and b"\\Seen" in data[0], "imaplib: RFC822 set \\Seen",
         data)
    c.logout()


run(t, T, test_append, test_simple_items, test_seen_side_effects,
    test_multipart, test_macros, test_sequence_sets, test_smtp_delivered,
    test_imaplib_fetch)
