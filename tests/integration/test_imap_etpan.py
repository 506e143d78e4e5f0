# SPDX-License-Identifier: MIT
"""ENVELOPE, BODYSTRUCTURE and BODY[section] through a strict third-party
parser: libetpan's mailimap (tests/integration/imap_etpan_client.c)
fetches every MIME fixture of tests/fixtures/mime and its dump must equal
the golden files of tests/fixtures/imap-etpan, which were made against
Dovecot, never against mssgate (see tests/fixtures/imap-etpan/README.md).

The fixtures are APPENDed in sorted order into one new mailbox; then
one libetpan session runs FETCH 1:* (UID ENVELOPE BODYSTRUCTURE
RFC822.SIZE) and prints what libetpan parsed, and one session per
fixture runs FETCH n BODY.PEEK[section] for the sections listed in the
fixture's golden file (size and SHA-256 of each answer). Any response
libetpan cannot parse fails the test with libetpan's error and the last
bytes received.

Choices (also in the README):

- Case. RFC 2045 and RFC 2183 make media types and subtypes, parameter
  names, transfer encodings and disposition types case-insensitive, and
  libetpan itself folds several of them into constants ("TEXT",
  "MESSAGE" "RFC822", the basic types, the five standard encodings). The
  dump lowercases all of these; parameter values, addresses, subjects
  and every other string are compared byte for byte. mssgate's exact
  bytes, case included, are pinned by the unit golden files
  (tests/fixtures/mime/*.bodystructure). Quoted string or literal is
  invisible after parsing, and so not compared here either.
- Fixtures left out:
  - garbage.eml is not a message: random bytes with NULs, bare CRs and
    bare LFs. RFC 3501 APPEND takes an RFC 5322 message and a literal
    may not hold NUL; what a server makes of such bytes is its own
    business (Dovecot keeps bare CRs, mssgate turns them into CRLF), not
    a matter of BODYSTRUCTURE conformance.
  - too_deep.eml nests 33 multiparts, one more than mssgate's documented
    MIME_DEPTH_MAX (src/mime/mime_struct.h): mssgate then describes the
    message as a single "application" "octet-stream" part on purpose,
    where Dovecot shows all 33 levels. It has no golden file; instead
    libetpan must parse mssgate's answer, and that answer must be the
    documented one, with the envelope, sizes and section bytes computed
    here from the fixture itself (mssgate target only).
  lf_only.eml (bare LF line ends) is kept: clients do send LF, both
  servers store CRLF (doc/IMAP.md), and the sizes must then agree.

Golden files: IMAP_TARGET=dovecot MSSGATE_ETPAN_REGEN=1 rewrites them
from a private Dovecot (tests/lib/imap_target.py); review the diff by
hand against RFC 3501 7.4.2 before committing. Regeneration refuses to
run against mssgate.
"""

import difflib
import hashlib
import os
import re
import subprocess
import sys

from mssgate_test import Tap
from imap_target import DOVECOT, Lit, mssgate_only, run, start_target

SRCDIR = os.environ.get("MSSGATE_SRCDIR", ".")
BUILDDIR = os.environ.get("MSSGATE_BUILDDIR", ".")
CLIENT = os.environ.get("IMAP_ETPAN_CLIENT", os.path.join(
    BUILDDIR, "tests", "integration", "imap_etpan_client"))
FIXTURES = os.path.join(SRCDIR, "tests", "fixtures", "mime")
GOLDEN = os.path.join(SRCDIR, "tests", "fixtures", "imap-etpan")
MAILBOX = "etpan-fixtures"
REGEN = os.environ.get("MSSGATE_ETPAN_REGEN") == "1"

# Fixtures not compared with a golden file, and why (see above).
NOT_A_MESSAGE = {"garbage"}
DEPTH_LIMIT = {"too_deep"}

t = Tap()
if REGEN and not DOVECOT:
    sys.exit("MSSGATE_ETPAN_REGEN=1 needs IMAP_TARGET=dovecot: golden "
             "files are never made from mssgate's own answers")
if not (os.path.isfile(CLIENT) and os.access(CLIENT, os.X_OK)):
    t.ok(False, "libetpan client built at %s" % CLIENT,
         "build it with `make check` (a check program), or by hand:\n"
         "gcc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -O1 -o "
         "imap_etpan_client tests/integration/imap_etpan_client.c "
         "$(pkg-config --cflags --libs libetpan openssl | "
         "sed 's/-specs=[^ ]*//')")
    t.done()

T = start_target()
USER, PASSWORD = T.new_user()

ALL = sorted(f[:-4] for f in os.listdir(FIXTURES) if f.endswith(".eml"))
APPENDED = [n for n in ALL if n not in NOT_A_MESSAGE]
COMPARED = [n for n in APPENDED if n not in DEPTH_LIMIT]
SEQ = {n: i + 1 for i, n in enumerate(APPENDED)}

# The sections asked when regenerating: every valid section of the unit
# test's list for the fixture (tests/fixtures/mime/NAME.sections), those
# that do not exist included.
SECTION_LINE = re.compile(r"^\[([^\]]*)\] ")


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".eml"), "rb") as f:
        return f.read()


def unit_sections(name):
    out = []
    with open(os.path.join(FIXTURES, name + ".sections")) as f:
        for line in f:
            m = SECTION_LINE.match(line)
            if m and not line.rstrip().endswith("ERR_PROTO"):
                out.append(m.group(1))
    return out


def golden_path(name):
    return os.path.join(GOLDEN, name + ".dump")


def read_golden(name):
    """The golden lines of a fixture, comments dropped; None if absent."""
    try:
        with open(golden_path(name)) as f:
            return [l for l in f.read().splitlines()
                    if not l.startswith("#")]
    except FileNotFoundError:
        return None


def client(*args):
    """Run the libetpan client; (exit status, stdout str, stderr str)."""
    cmd = [CLIENT, "-H", T.host, str(T.port_imaps), USER, PASSWORD,
           MAILBOX] + list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=300)
    return (p.returncode, p.stdout.decode("ascii", "replace"),
            p.stderr.decode("utf-8", "replace"))


def udiff(want, got, name):
    return "\n".join(difflib.unified_diff(
        want, got, "tests/fixtures/imap-etpan/%s.dump (# lines dropped)"
        % name, "%s, %s.eml" % (T.kind, name), lineterm="", n=4))


def compare(want, got, name, what):
    if want == got:
        return t.ok(True, what)
    t.ok(False, what)
    if want is None:
        t.diag("no golden file %s (regenerate: IMAP_TARGET=dovecot "
               "MSSGATE_ETPAN_REGEN=1)" % golden_path(name))
    else:
        t.diag(udiff(want, got, name))
    return False


# --- the mailbox ------------------------------------------------------------

def test_append():
    s = T.session(USER, PASSWORD)
    try:
        r = s.cmd('CREATE "%s"' % MAILBOX)
        t.ok(r.ok, "CREATE %s" % MAILBOX, repr(r))
        bad = []
        for n in APPENDED:
            r = s.cmd(['APPEND "%s" ' % MAILBOX, Lit(fixture(n))])
            if not r.ok:
                bad.append("%s: %r" % (n, r))
        t.ok(not bad, "APPEND of the %d fixtures (%s left out) in sorted "
             "order" % (len(APPENDED), ", ".join(sorted(NOT_A_MESSAGE))),
             "\n".join(bad))
    finally:
        s.logout()


# --- FETCH 1:* (UID ENVELOPE BODYSTRUCTURE RFC822.SIZE) -------------------

BLOCKS = {}  # fixture name -> its lines of the dump, header lines removed


def test_structures():
    rc, out, err = client()
    if not t.ok(rc == 0, "libetpan parses FETCH 1:* (UID ENVELOPE "
                "BODYSTRUCTURE RFC822.SIZE) of every fixture",
                "exit %d\n%s" % (rc, err)):
        return
    blocks = []
    for line in out.splitlines():
        if line.startswith("message "):
            blocks.append([])
        if not blocks:
            blocks.append([])
        blocks[-1].append(line)
    heads = [b[:2] for b in blocks]
    seqs_ok = [h[0] for h in heads] == ["message %d" % (i + 1)
                                        for i in range(len(APPENDED))]
    uids = []
    for h in heads:
        m = re.match(r"^  uid (\d+)$", h[1]) if len(h) > 1 else None
        uids.append(int(m.group(1)) if m else None)
    uids_ok = None not in uids and all(a < b for a, b in zip(uids, uids[1:]))
    t.ok(seqs_ok and uids_ok, "one FETCH response per fixture, sequence "
         "numbers 1..%d, UIDs ascending" % len(APPENDED),
         "heads: %r" % heads)
    if not seqs_ok:
        return
    for n, b in zip(APPENDED, blocks):
        BLOCKS[n] = b[2:]
    for n in COMPARED:
        if not REGEN:
            compare(read_golden_structure(n), BLOCKS[n], n,
                    "%s: ENVELOPE, BODYSTRUCTURE, RFC822.SIZE as the "
                    "golden file" % n)


def read_golden_structure(name):
    g = read_golden(name)
    return None if g is None else [l for l in g if not l.startswith("BODY[")]


def read_golden_sections(name):
    g = read_golden(name)
    return None if g is None else [l for l in g if l.startswith("BODY[")]


# --- FETCH n BODY.PEEK[section] ---------------------------------------------

SECTIONS = {}  # fixture name -> its BODY[...] lines


def sections_of(name):
    """The sections to ask: the golden file's, or when regenerating the
    unit test's list."""
    if REGEN:
        return unit_sections(name)
    g = read_golden_sections(name) or []
    return [re.match(r"^BODY\[([^\]]*)\]", l).group(1) for l in g]


def test_sections():
    for n in COMPARED:
        specs = sections_of(n)
        if not specs:
            t.ok(False, "%s: sections listed in the golden file" % n,
                 "no BODY[...] line in %s" % golden_path(n))
            continue
        rc, out, err = client("-s", str(SEQ[n]), *specs)
        if not t.ok(rc == 0, "%s: libetpan parses FETCH BODY.PEEK[...] "
                    "of %d sections" % (n, len(specs)),
                    "sections: %s\nexit %d\n%s" % (
                        " ".join("[%s]" % x for x in specs), rc, err)):
            continue
        SECTIONS[n] = out.splitlines()
        if not REGEN:
            compare(read_golden_sections(n), SECTIONS[n], n,
                    "%s: BODY[section] sizes and SHA-256 as the golden "
                    "file" % n)


# --- the documented depth limit --------------------------------------------

def describe(data):
    """(RFC822.SIZE, BODY[HEADER], BODY[TEXT]) of a CRLF message,
    computed from its bytes."""
    end = data.find(b"\r\n\r\n")
    hdr, text = data[:end + 4], data[end + 4:]
    return len(data), hdr, text


def section_line(spec, data):
    return "BODY[%s] size %d sha256 %s" % (spec, len(data),
                                           hashlib.sha256(data).hexdigest())


def test_depth_limit():
    for n in sorted(DEPTH_LIMIT):
        if not mssgate_only(t, "%s: beyond MIME_DEPTH_MAX, one "
                            "application/octet-stream part" % n,
                            "Dovecot has no such limit"):
            continue
        size, hdr, text = describe(fixture(n))
        block = BLOCKS.get(n)
        # Its only header fields are Subject and Content-Type.
        want = ["  rfc822.size %d" % size, "  envelope", "    date NIL",
                '    subject "too deep"'] + [
            "    %s NIL" % f for f in ("from", "sender", "reply-to", "to",
                                       "cc", "bcc", "in-reply-to",
                                       "message-id")] + [
            "  bodystructure", "    part 1 basic",
            '      type "application"', '      subtype "octet-stream"',
            "      params NIL", "      id NIL", "      description NIL",
            '      encoding "7bit"', "      size %d" % len(text),
            "      md5 NIL", "      disposition NIL", "      language NIL",
            "      location NIL"]
        t.ok(block == want, "%s: beyond MIME_DEPTH_MAX, one "
             "application/octet-stream part" % n,
             "\n".join(difflib.unified_diff(want, block or [],
                                            "documented", "got",
                                            lineterm="")))
        specs = {"": fixture(n), "HEADER": hdr, "TEXT": text, "1": text}
        rc, out, err = client("-s", str(SEQ[n]), *specs)
        want = [section_line(k, v) for k, v in specs.items()]
        t.ok(rc == 0 and out.splitlines() == want,
             "%s: BODY[], [HEADER], [TEXT] and [1] give the fixture's "
             "bytes" % n, "exit %d\n%s\n%s" % (
                 rc, err, "\n".join(difflib.unified_diff(
                     want, out.splitlines(), "fixture", "got",
                     lineterm=""))))


# --- golden files -----------------------------------------------------------

HEADER = """\
# Golden file of tests/integration/test_imap_etpan.py (see README.md):
# what libetpan's mailimap parsed from {server} for
# tests/fixtures/mime/{name}.eml: FETCH (UID ENVELOPE BODYSTRUCTURE
# RFC822.SIZE) without the "message" and "uid" lines, then FETCH
# BODY.PEEK[section]. Written with IMAP_TARGET=dovecot
# MSSGATE_ETPAN_REGEN=1; review by hand against RFC 3501 7.4.2 before
# committing. Lines starting with # are not compared.
"""


def dovecot_version():
    p = subprocess.run(["dovecot", "--version"], capture_output=True)
    v = p.stdout.decode().split()
    return "Dovecot %s" % (v[0] if v else "?")


def regenerate():
    server = dovecot_version()
    os.makedirs(GOLDEN, exist_ok=True)
    for n in COMPARED:
        if n not in BLOCKS or n not in SECTIONS:
            t.ok(False, "%s: golden file rewritten" % n,
                 "no dump for it")
            continue
        with open(golden_path(n), "w") as f:
            f.write(HEADER.format(server=server, name=n))
            f.write("\n".join(BLOCKS[n] + SECTIONS[n]) + "\n")
        t.ok(True, "%s: golden file rewritten" % n)


def test_golden_set():
    if REGEN:
        regenerate()
    have = sorted(f[:-5] for f in os.listdir(GOLDEN) if f.endswith(".dump"))
    t.eq(have, sorted(COMPARED), "one golden file per compared fixture, "
         "none stale")


run(t, T, test_append, test_structures, test_sections, test_depth_limit,
    test_golden_set)
