# SPDX-License-Identifier: MIT
"""Our delivery status notifications read by an independent parser.

Every golden report of tests/fixtures/dsn (written by dsn_build, see
tests/unit/test_dsn.c) goes through Python's own email package (policy
default): a multipart/report with report-type=delivery-status and no
defect anywhere, a text/plain part in UTF-8 in English and French, a
message/delivery-status part whose blocks Python hands back as messages
(the per-message fields, then one per recipient, with the expected
Action and Status values, RFC 5322 dates and ASCII only), and the
returned message or header of the expected type. The raw bytes: CRLF
after every line, none over 998 octets. No daemon is started.
"""

import email
import email.policy
import email.utils
import os
import re

from mssgate_test import SRCDIR, Tap, run_tests

t = Tap()

FIXTURES = os.path.join(SRCDIR, "tests", "fixtures", "dsn")

SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "delivered": "Successful Mail Delivery Report",
    "relayed": "Successful Mail Delivery Report",
}

# name: (actions per recipient, statuses, type of the third part or None)
CASES = {
    "failed_full": (["failed"], ["5.1.1"], "message/rfc822"),
    "failed_orcpt_envid": (["failed", "failed"], ["5.2.2", "5.4.4"],
                           "message/rfc822"),
    "failed_hdrs": (["failed"], ["5.0.0"], "text/rfc822-headers"),
    "delayed": (["delayed"], ["4.4.1"], "text/rfc822-headers"),
    "delivered": (["delivered"], ["2.0.0"], "text/rfc822-headers"),
    "relayed": (["relayed", "delivered"], ["2.0.0", "2.0.0"],
                "text/rfc822-headers"),
    "diag_injection": (["failed", "failed"], ["5.7.1", "5.0.0"],
                       "message/rfc822"),
    "utf8_address": (["failed", "failed"], ["5.1.1", "5.1.1"],
                     "message/rfc822"),
    "empty_message": (["failed"], ["5.0.0"], None),
    "broken_lines": (["failed"], ["5.0.0"], "message/rfc822"),
}

STATUS_RE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
DATE_FIELDS = ("Arrival-Date", "Last-Attempt-Date", "Will-Retry-Until")


def xtext_decode(s):
    """RFC 3461 section 4, the reference reading of what we encoded."""
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "+":
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
        else:
            assert "!" <= s[i] <= "~" and s[i] != "=", s
            out.append(ord(s[i]))
            i += 1
    return out.decode("utf-8")


def check_lines(name, raw):
    lines = raw.split(b"\r\n")
    t.eq(lines[-1], b"", "%s: ends with CRLF" % name)
    bad = [i for i, l in enumerate(lines) if b"\r" in l or b"\n" in l]
    t.eq(bad, [], "%s: no bare CR or LF" % name)
    t.eq(max(len(l) for l in lines) <= 998, True,
         "%s: no line over 998 octets" % name)


def is_date(value):
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False


def check_status(name, part, actions, statuses):
    blocks = part.get_payload()
    t.eq(isinstance(blocks, list), True,
         "%s: delivery-status blocks parsed" % name)
    t.eq(len(blocks), 1 + len(actions),
         "%s: per-message block and one per recipient" % name)
    head = blocks[0]
    t.like(head["Reporting-MTA"], r"^dns; [a-z0-9.-]+$",
           "%s: Reporting-MTA" % name)
    t.eq(head["Final-Recipient"], None,
         "%s: no recipient field among the per-message ones" % name)
    envid = head["Original-Envelope-Id"]
    if envid is not None:
        t.ok(xtext_decode(str(envid)) != "",
             "%s: Original-Envelope-Id is xtext" % name)
    fields = []
    for i, block in enumerate(blocks[1:]):
        label = "%s: recipient %d" % (name, i + 1)
        t.eq(block.defects, [], "%s: no defect" % label)
        t.eq(str(block["Action"]), actions[i], "%s: Action" % label)
        t.eq(str(block["Status"]), statuses[i], "%s: Status" % label)
        t.like(str(block["Status"]), STATUS_RE.pattern,
               "%s: Status syntax" % label)
        t.like(block["Final-Recipient"], r"^(rfc822|utf-8); \S",
               "%s: Final-Recipient typed" % label)
        orcpt = block["Original-Recipient"]
        if orcpt is not None:
            t.like(orcpt, r"^[A-Za-z0-9-]+;\S+$",
                   "%s: Original-Recipient type;xtext" % label)
        t.eq(block["Will-Retry-Until"] is not None,
             actions[i] == "delayed",
             "%s: Will-Retry-Until only when delayed" % label)
        for k, v in block.items():
            fields.append(k)
            t.ok(str(v).isascii(), "%s: %s is ASCII" % (label, k))
    for block in blocks:
        for f in DATE_FIELDS:
            if block[f] is not None:
                t.ok(is_date(str(block[f])), "%s: %s is an RFC 5322 date"
                     % (name, f))
    t.eq([f for f in fields if f.lower().startswith("x-")], [],
         "%s: nothing injected as a field" % name)


def check_report(name, raw):
    actions, statuses, third = CASES[name]
    check_lines(name, raw)
    m = email.message_from_bytes(raw, policy=email.policy.default)
    defects = [(p.get_content_type(), p.defects) for p in m.walk()
               if p.defects]
    t.eq(defects, [], "%s: no defect in any part" % name)
    t.eq(m.get_content_type(), "multipart/report",
         "%s: multipart/report" % name)
    t.eq(m.get_param("report-type"), "delivery-status",
         "%s: report-type=delivery-status" % name)
    t.eq(str(m["Auto-Submitted"]), "auto-replied",
         "%s: Auto-Submitted" % name)
    t.eq(str(m["Subject"]), SUBJECTS[actions[0]], "%s: Subject" % name)
    t.ok(is_date(str(m["Date"])), "%s: Date" % name)
    t.like(str(m["Message-ID"]), r"^<[^<>\s]+>$", "%s: Message-ID" % name)
    parts = list(m.iter_parts())
    t.eq([p.get_content_type() for p in parts],
         ["text/plain", "message/delivery-status"]
         + ([third] if third else []), "%s: the parts and their types"
         % name)
    if len(parts) < 2:
        return
    text = parts[0]
    t.eq(text.get_content_charset(), "utf-8", "%s: text in UTF-8" % name)
    body = text.get_content()
    t.ok("This is the mail system at host" in body
         and "Ceci est le système de messagerie" in body,
         "%s: the text speaks English and French" % name)
    check_status(name, parts[1], actions, statuses)
    if third == "message/rfc822":
        inner = parts[2].get_payload()
        t.ok(isinstance(inner, list) and len(inner) == 1
             and inner[0]["From"] is not None,
             "%s: the original message is returned" % name)
    elif third == "text/rfc822-headers":
        hdrs = email.message_from_string(parts[2].get_content(),
                                         policy=email.policy.default)
        t.ok(hdrs["From"] is not None and hdrs["Message-ID"] is not None,
             "%s: the original header is returned" % name)
        t.eq(hdrs.get_payload(), "", "%s: and no body with it" % name)


def test_every_golden():
    names = sorted(f[:-4] for f in os.listdir(FIXTURES)
                   if f.endswith(".eml"))
    t.eq(names, sorted(CASES), "a golden file for each case, no other")
    for name in names:
        if name not in CASES:
            continue
        with open(os.path.join(FIXTURES, name + ".eml"), "rb") as f:
            check_report(name, f.read())


def test_values():
    """What a few cases must say, read back through the parser."""
    def load(name):
        with open(os.path.join(FIXTURES, name + ".eml"), "rb") as f:
            raw = f.read()
        return raw, email.message_from_bytes(raw, policy=email.policy.default)

    raw, m = load("failed_orcpt_envid")
    blocks = list(m.iter_parts())[1].get_payload()
    t.eq(xtext_decode(str(blocks[0]["Original-Envelope-Id"])),
         "QID 42+a=b/é", "ENVID round trip through xtext")
    t.eq(xtext_decode(str(blocks[1]["Original-Recipient"])
                      .split(";", 1)[1]),
         "Secretariat+Cardio@Clinique.test", "ORCPT round trip")
    t.like(str(blocks[2]["Diagnostic-Code"]), r"^X-mssgate; ",
           "our own diagnostic is not typed smtp")

    raw, m = load("utf8_address")
    t.ok("To: <zoé.lefèvre@clinique-été.test>\r\n".encode() in raw,
         "UTF-8 sender in To (RFC 6532)")
    blocks = list(m.iter_parts())[1].get_payload()
    t.eq(str(blocks[1]["Final-Recipient"]),
         "utf-8; j\\x{E9}r\\x{F4}me.dupr\\x{E9}@h\\x{F4}pital.test",
         "RFC 6533 utf-8-addr-xtext")
    third = list(m.iter_parts())[2]
    t.eq(third["Content-Transfer-Encoding"], "8bit",
         "8-bit original declared 8bit")

    raw, m = load("diag_injection")
    t.ok(b"\r\nX-Injected" not in raw, "no injected line")
    diag = str(list(m.iter_parts())[1].get_payload()[1]["Diagnostic-Code"])
    t.ok(diag.startswith("smtp; 550-5.7.1 Message refused by policy.")
         and "\x1b" not in diag and diag.endswith("end of data."),
         "the reply unfolded in one piece, controls gone")
    t.eq(m.get_boundary() in diag, False,
         "the planted delimiter is not ours")


run_tests(t, test_every_golden, test_values)
