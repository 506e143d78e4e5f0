# SPDX-License-Identifier: MIT
"""SEARCH (RFC 3501 6.4.4) with every search key, OR/NOT/parentheses,
CHARSET UTF-8 (case-insensitive, not accent-insensitive), BODY and TEXT
on quoted-printable and base64 parts, UID SEARCH, ESEARCH (RFC 4731) and
the MODSEQ key (RFC 7162), and the error cases (unknown key, bad date,
missing operand, unknown charset).

Five messages with INTERNALDATEs ten days after their Date: headers so
that BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE
(Date: header) give different answers.
"""

import base64
import re

from mssgate_test import Tap
from imap_target import (Lit, expand_set, resp_code_value, run, start_target)

t = Tap()
T = start_target()


def msg(headers, body, ctype="text/plain; charset=utf-8", cte=None):
    h = list(headers) + ["MIME-Version: 1.0", "Content-Type: " + ctype]
    if cte:
        h.append("Content-Transfer-Encoding: " + cte)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


M1 = msg(['From: "Alice Martin" <alice@hopital.example>',
          "To: bob@clinique.example", "Cc: carol@labo.example",
          "Bcc: dave@secret.example",
          "Subject: =?UTF-8?Q?Compte_rendu_d'=C3=A9chographie?=",
          "Date: Wed, 15 Jan 2020 12:00:00 +0000",
          "Message-ID: <m1@hopital.example>", "X-Priority: urgent"],
         b"R=C3=A9sultat : =C3=A9chographie cardiaque normale.\r\n",
         cte="quoted-printable")
M2 = msg(["From: bob@clinique.example", "To: alice@hopital.example",
          "Subject: Rendez-vous", "Date: Thu, 16 Jan 2020 12:00:00 +0000",
          "Message-ID: <m2@clinique.example>"],
         base64.encodebytes("Le scanner thoracique est pr\u00e9vu demain."
                            .encode()).replace(b"\n", b"\r\n"),
         cte="base64")
M3 = msg(["From: carol@labo.example", "To: alice@hopital.example",
          "Subject: Analyses", "Date: Fri, 17 Jan 2020 12:00:00 +0000",
          "Message-ID: <m3@labo.example>"],
         b"Glycemie a jeun: 0,95 g/L\r\n" + b"x" * 70 + b"\r\n" * 1 +
         (b"y" * 76 + b"\r\n") * 60)
ATTACH = base64.encodebytes(b"PROTOCOLE d'essai clinique, version 2\n"
                            ).replace(b"\n", b"\r\n")
M4 = msg(["From: alice@hopital.example", "To: carol@labo.example",
          "Subject: Re: Analyses", "Date: Sat, 18 Jan 2020 12:00:00 +0000",
          "Message-ID: <m4@hopital.example>"],
         b"--b4\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
         b"Merci, voir le protocole joint.\r\n"
         b"--b4\r\nContent-Type: text/plain; name=p.txt\r\n"
         b"Content-Disposition: attachment; filename=p.txt\r\n"
         b"Content-Transfer-Encoding: base64\r\n\r\n" + ATTACH +
         b"--b4--\r\n", ctype='multipart/mixed; boundary="b4"')
M5 = msg(["From: dave@secret.example", "To: alice@hopital.example",
          "Subject: Nouveau", "Date: Sun, 19 Jan 2020 12:00:00 +0000",
          "Message-ID: <m5@secret.example>"], b"Nouveau message.\r\n")
MSGS = [M1, M2, M3, M4, M5]
FLAGS = [["\\Seen", "\\Answered"], ["\\Flagged", "$Urgent"],
         ["\\Deleted", "\\Draft"], [], []]
IDATES = ["25-Jan-2020 12:00:00 +0000", "26-Jan-2020 12:00:00 +0000",
          "27-Jan-2020 12:00:00 +0000", "28-Jan-2020 12:00:00 +0000",
          "29-Jan-2020 12:00:00 +0000"]

USER, PW = T.new_user("search")
UIDS = []
for i in range(4):
    a = T.append(USER, MSGS[i], flags=FLAGS[i], date=IDATES[i])
    UIDS.append(int(resp_code_value(a, "APPENDUID").split()[1]))
# A session selects and leaves: messages 1-4 are no longer \Recent.
_r = T.session(USER, PW, select="INBOX")
_r.logout()
a = T.append(USER, M5, flags=FLAGS[4], date=IDATES[4])
UIDS.append(int(resp_code_value(a, "APPENDUID").split()[1]))
S = T.session(USER, PW, select="INBOX")
SIZES = [len(m) for m in MSGS]


def search(criteria, uid=False):
    parts = criteria if isinstance(criteria, list) else [criteria]
    resp = S.cmd(["UID SEARCH " if uid else "SEARCH "] + parts)
    return resp


def check(criteria, want, name=None):
    resp = search(criteria)
    label = name or "SEARCH %s" % (criteria if isinstance(criteria, str)
                                  else "".join(p if isinstance(p, str) else
                                               p.data.decode() for p in
                                               criteria))
    if resp.status != "OK":
        t.ok(False, label, resp)
        return
    t.eq(sorted(resp.search()), want, label)


def test_all_and_flags():
    check("ALL", [1, 2, 3, 4, 5])
    check("ANSWERED", [1])
    check("UNANSWERED", [2, 3, 4, 5])
    check("DELETED", [3])
    check("UNDELETED", [1, 2, 4, 5])
    check("DRAFT", [3])
    check("UNDRAFT", [1, 2, 4, 5])
    check("FLAGGED", [2])
    check("UNFLAGGED", [1, 3, 4, 5])
    check("SEEN", [1])
    check("UNSEEN", [2, 3, 4, 5])
    check("KEYWORD $Urgent", [2])
    check("UNKEYWORD $Urgent", [1, 3, 4, 5])
    check("KEYWORD $NeverUsed", [])
    check("RECENT", [5])
    check("NEW", [5])
    check("OLD", [1, 2, 3, 4])
    resp = search("KEYWORD $NeverUsed")
    t.eq(resp.find("SEARCH"), ["* SEARCH"],
         "no match: an empty * SEARCH is still sent")


def test_dates():
    check("BEFORE 27-Jan-2020", [1, 2], "BEFORE (internal date)")
    check("ON 27-Jan-2020", [3], "ON (internal date)")
    check("SINCE 27-Jan-2020", [3, 4, 5], "SINCE (internal date, "
          "inclusive)")
    check("ON 17-Jan-2020", [], "ON uses the internal date, not Date:")
    check("SENTBEFORE 17-Jan-2020", [1, 2], "SENTBEFORE (Date: header)")
    check("SENTON 17-Jan-2020", [3], "SENTON (Date: header)")
    check("SENTSINCE 18-Jan-2020", [4, 5], "SENTSINCE (inclusive)")
    check('SENTON "16-Jan-2020"', [2], "quoted date")
    check("SINCE 1-Jan-2020 BEFORE 26-Jan-2020", [1],
          "one-digit day, and two date keys")


def test_sizes():
    order = sorted(range(5), key=lambda i: SIZES[i])
    big = order[-1]
    small = order[0]
    check("LARGER %d" % (SIZES[big] - 1), [big + 1], "LARGER size-1 of "
          "the largest")
    check("LARGER %d" % SIZES[big], [], "LARGER n is strictly larger")
    check("SMALLER %d" % (SIZES[small] + 1), [small + 1],
          "SMALLER size+1 of the smallest")
    check("SMALLER %d" % SIZES[small], [], "SMALLER n is strictly smaller")
    check("NOT LARGER %d" % SIZES[big], [1, 2, 3, 4, 5], "NOT LARGER")


def test_headers():
    check('FROM "alice"', [1, 4])
    check('FROM "ALICE@HOPITAL"', [1, 4], "FROM is case-insensitive")
    check('FROM "Martin"', [1], "FROM matches the display name")
    check('TO "alice@hopital.example"', [2, 3, 5])
    check("CC carol", [1])
    check("BCC dave", [1])
    check("SUBJECT analyses", [3, 4])
    check('SUBJECT "Re:"', [4])
    check('HEADER X-Priority "urgent"', [1])
    check('HEADER X-Priority ""', [1], 'HEADER name "": has the field')
    check('HEADER Message-ID "@hopital.example"', [1, 4])
    check('HEADER X-Absent ""', [])
    check('SUBJECT "chographie"', [1], "SUBJECT matches the RFC 2047 "
          "decoded subject")


def test_charset_utf8():
    check(["CHARSET UTF-8 SUBJECT ", Lit("\u00e9chographie".encode())],
          [1], "CHARSET UTF-8 SUBJECT \u00e9chographie")
    check(["CHARSET UTF-8 SUBJECT ", Lit("\u00c9CHOGRAPHIE".encode())],
          [1], "CHARSET UTF-8 SUBJECT \u00c9CHOGRAPHIE (case-insensitive)")
    check(["CHARSET UTF-8 SUBJECT ", Lit(b"echographie")], [],
          "no accent folding: echographie does not match")
    check(["CHARSET UTF-8 BODY ", Lit("\u00c9chographie CARDIAQUE"
                                      .encode())], [1],
          "BODY on quoted-printable text, UTF-8, any case")
    check(["CHARSET UTF-8 BODY ", Lit("pr\u00e9vu".encode())], [2],
          "BODY on base64 UTF-8 text")
    check(["CHARSET UTF-8 TEXT ", Lit("R\u00c9SULTAT".encode())], [1],
          "TEXT on decoded text")
    check("CHARSET US-ASCII SUBJECT analyses", [3, 4],
          "CHARSET US-ASCII")
    resp = search("CHARSET X-NO-SUCH-CHARSET SUBJECT a")
    t.eq(resp.status, "NO", "unknown charset: NO")
    t.like(resp.code or "", r"^BADCHARSET", "unknown charset: [BADCHARSET]")


def test_body_text():
    check("BODY scanner", [2], "BODY finds base64-encoded text")
    check('BODY "SCANNER THORACIQUE"', [2], "BODY is case-insensitive")
    check('BODY "=C3=A9"', [], "BODY does not match the raw "
          "quoted-printable")
    check("BODY PROTOCOLE", [4], "BODY finds text in a base64 attachment")
    check("BODY Analyses", [], "BODY does not look at the header")
    check("TEXT Analyses", [3, 4], "TEXT looks at header and body")
    check('TEXT "Glycemie"', [3], "TEXT in the body")
    check('BODY "jeun: 0,95"', [3], "BODY substring with punctuation")


def test_sets_and_logic():
    check("2:3", [2, 3], "sequence set as a key")
    check("*", [5], "* as a key")
    check("2:3 SEEN", [], "sequence set AND SEEN")
    check("1,3:4", [1, 3, 4])
    check("UID %d:%d" % (UIDS[1], UIDS[3]), [2, 3, 4], "UID key")
    check("NOT SEEN", [2, 3, 4, 5])
    check("OR SEEN FLAGGED", [1, 2])
    check("OR OR SEEN FLAGGED DELETED", [1, 2, 3], "nested OR")
    check("OR (FROM bob) (FROM carol)", [2, 3], "OR of parenthesised keys")
    check("NOT (OR SEEN FLAGGED)", [3, 4, 5], "NOT of a parenthesised OR")
    check("(SEEN ANSWERED)", [1], "parentheses group an AND")
    check("FROM alice SUBJECT analyses", [4], "keys are ANDed")
    check("NOT NOT SEEN", [1], "NOT NOT")
    check("((((SEEN))))", [1], "nested parentheses")
    check("OR (SEEN FROM bob) (UNSEEN FROM dave)", [5],
          "OR of two ANDs")


def test_uid_search_and_esearch():
    resp = search("FLAGGED", uid=True)
    t.eq(resp.search(), [UIDS[1]], "UID SEARCH returns UIDs")
    resp = search("ALL", uid=True)
    t.eq(sorted(resp.search()), UIDS, "UID SEARCH ALL")
    resp = search("RETURN (MIN MAX COUNT ALL) UNSEEN")
    es = [l for l in resp.lines() if l.upper().startswith("* ESEARCH")]
    t.eq(len(es), 1, "ESEARCH: one * ESEARCH response")
    line = es[0] if es else ""
    t.like(line, r'^\* ESEARCH \(TAG "%s"\)' % resp.tag,
           "ESEARCH carries the command tag")
    got = dict(re.findall(r"\b(MIN|MAX|COUNT|ALL) (\S+)", line))
    t.eq({k: got.get(k) for k in ("MIN", "MAX", "COUNT")},
         {"MIN": "2", "MAX": "5", "COUNT": "4"}, "ESEARCH MIN 2 MAX 5 "
         "COUNT 4")
    t.eq(expand_set(got.get("ALL")), [2, 3, 4, 5], "ESEARCH ALL 2:5")
    t.eq(resp.find("SEARCH"), [], "no * SEARCH with RETURN")
    resp = search("RETURN (COUNT) ALL", uid=True)
    t.like(" ".join(resp.lines()),
           r'^\* ESEARCH \(TAG "%s"\) UID COUNT 5$' % resp.tag,
           "UID SEARCH RETURN (COUNT): UID marker and COUNT 5")
    resp = search("RETURN () FLAGGED")
    t.like(" ".join(resp.lines()),
           r'^\* ESEARCH \(TAG "%s"\) ALL 2$' % resp.tag,
           "RETURN (): ALL")
    resp = search("RETURN (MIN MAX COUNT) KEYWORD $NeverUsed")
    line = " ".join(resp.lines())
    t.ok(resp.ok and "MIN" not in line and "MAX" not in line and
         re.search(r"COUNT 0$", line),
         "no match: COUNT 0 and no MIN/MAX (RFC 4731)", line)
    resp = search("RETURN (ALL) UID %d,%d" % (UIDS[4], UIDS[0]), uid=True)
    got = dict(re.findall(r"\b(ALL) (\S+)", " ".join(resp.lines())))
    t.eq(expand_set(got.get("ALL")), sorted([UIDS[0], UIDS[4]]),
         "UID SEARCH RETURN (ALL)")
    resp = search("RETURN (FOO) ALL")
    t.eq(resp.status, "BAD", "unknown RETURN option: BAD")


def test_modseq():
    user, pw = T.new_user("mods")
    for i in range(3):
        T.append(user, MSGS[i])
    r = T.session(user, pw)
    r.cmd("ENABLE CONDSTORE")
    r.select("INBOX")
    resp = r.cmd("STORE 2 +FLAGS (\\Flagged)")
    f = resp.fetch_map().get(2, {})
    m = f.get("MODSEQ", [0])[0]
    t.ok(m > 0, "STORE with CONDSTORE on: MODSEQ in the FETCH", resp)
    resp = r.cmd("SEARCH MODSEQ %d" % m)
    t.eq(resp.find("SEARCH"), ["* SEARCH 2 (MODSEQ %d)" % m],
         "SEARCH MODSEQ: the message and the highest mod-sequence")
    resp = r.cmd("SEARCH MODSEQ %d" % (m + 1))
    t.eq(resp.find("SEARCH"), ["* SEARCH"],
         "SEARCH MODSEQ above all: empty, no MODSEQ part")
    resp = r.cmd("UID SEARCH MODSEQ %d FLAGGED" % m)
    t.ok(resp.ok and re.match(r"^\* SEARCH \d+ \(MODSEQ %d\)$" % m,
                              " ".join(resp.find("SEARCH"))),
         "UID SEARCH MODSEQ", resp)
    resp = r.cmd('SEARCH MODSEQ "/flags/\\\\Flagged" all %d' % m)
    t.eq(resp.search(), [2], "MODSEQ with an entry name")
    resp = r.cmd("SEARCH MODSEQ x")
    t.eq(resp.status, "BAD", "SEARCH MODSEQ x: BAD")
    r.logout()


def test_errors():
    for crit, why in (("FOO", "unknown key"),
                      ("BEFORE 10-Foo-2020", "invalid month"),
                      ("BEFORE 2020-01-10", "ISO date"),
                      ("LARGER abc", "non-numeric size"),
                      ("OR SEEN", "OR with one operand"),
                      ("(SEEN", "unbalanced parenthesis"),
                      ("SEEN)", "stray parenthesis"),
                      ("HEADER X-Priority", "HEADER without a string"),
                      ("NOT", "NOT without a key"),
                      ("UID", "UID without a set"),
                      ("", "no key at all")):
        resp = search(crit)
        t.eq(resp.status, "BAD", "SEARCH with %s: BAD" % why)
    t.eq(S.cmd("NOOP").status, "OK", "session usable after the errors")
    r = T.session(USER, PW)
    t.eq(r.cmd("SEARCH ALL").status, "BAD",
         "SEARCH with no mailbox selected: BAD")
    r.logout()


def test_imaplib_search():
    c = T.imap(USER, PW)
    c.select("INBOX", readonly=True)
    typ, data = c.search(None, "FROM", '"alice"', "UNSEEN")
    t.eq((typ, data), ("OK", [b"4"]), "imaplib search FROM alice UNSEEN")
    typ, data = c.uid("SEARCH", "CHARSET", "UTF-8", "BODY", "scanner")
    t.eq((typ, data), ("OK", [str(UIDS[1]).encode()]),
         "imaplib UID SEARCH CHARSET UTF-8 BODY")
    c.logout()


run(t, T, test_all_and_flags, test_dates, test_sizes, test_headers,
    test_charset_utf8, test_body_text, test_sets_and_logic,
    test_uid_search_and_esearch, test_modseq, test_errors,
    test_imaplib_search)
