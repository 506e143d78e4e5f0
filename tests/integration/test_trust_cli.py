# SPDX-License-Identifier: MIT
"""The trust-space commands of `mssgate` against a private gateway:
`trust import FILE [--skip-bad] | list | add DOMAIN [--route HOST:PORT] |
del DOMAIN`, plain and --json.

The CLI works on the store itself (LMDB, shared with a running daemon), so
everything is run first with the daemon stopped, then again while it
runs. Checked: the usage errors (64); an import of the ANS-shaped list
(names normalized to lower-case A-labels, duplicates merged) and its
re-import (nothing changes); the changed list (added, removed, kept, and
the domains an administrator added by hand survive, even those the list
also names or no longer names); every malformed, invalid or hostile file
(wrong root or namespace, truncated, DTDs, entities pointing at a FIFO
or at a loopback port that listens) refused with exit 65 and one line
naming the file and its line, the trust space unchanged and nothing
opened or connected to; a missing file (66); `add` with bad names and
bad routes (65, the reason given), good ones normalized; `del` of an
unknown domain (67). Then, the daemon running: a recipient in a domain
just added is accepted at RCPT, one in a domain just deleted (or dropped
by an import) is refused with "550 5.7.1 ... domain not in the MSSante
trust space", within one SMTP session.
"""

import json
import os
import re
import select
import socket
import subprocess
import tempfile

from mssgate_test import MSSGATE, SRCDIR, Gateway, Tap, run_tests

t = Tap()

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
TIMEOUT = 30
NS = "https://listeblanche.mssante.fr/schema"
FIX = os.path.join(os.path.abspath(SRCDIR), "tests", "fixtures", "trust")

# What valid.xml and changed.xml hold, as stored.
VALID = {"alpha.mssante.fr", "beta.mssante.fr",
         "xn--hpital-exemple-0ob.mssante.fr",
         "xn--mdecin-bva.xn--mssant-gva.fr", "gamma.mssante.fr",
         "delta.mssante.fr", "xn--cole-9oa.mssante.fr",
         "epsilon.mssante.fr"}
CHANGED = {"alpha.mssante.fr", "beta.mssante.fr",
           "xn--hpital-exemple-0ob.mssante.fr",
           "xn--mdecin-bva.xn--mssant-gva.fr", "delta.mssante.fr",
           "xn--cole-9oa.mssante.fr", "zeta.mssante.fr",
           "xn--centre-sant-lbb.mssante.fr", "xn--80abvlke3d3b.mssante.fr"}

# Files refused, with the message after "mssgate: PATH".
REFUSED = [
    ("malformed.xml",
     ":8: Opening and ending tag mismatch: Nom line 8 and Nome"),
    ("truncated.xml", ":8: the file ends inside the list (truncated?)"),
    ("wrong-root.xml", ":3: root element is 'ListeNoire', expected "
     "'ListeBlancheMSSante' (not a MSSante white list)"),
    ("wrong-namespace.xml", ":2: root element 'ListeBlancheMSSante' is in "
     "namespace 'https://example.org/not-the-white-list', expected " + NS),
    ("no-namespace.xml", ":2: root element 'ListeBlancheMSSante' has no "
     "namespace, expected " + NS),
    ("empty-list.xml", ": no domain name in the list"),
    ("bad-names.xml", ":6: 'bad_name.mssante.fr': character not allowed "
     "in a domain name"),
    ("billion-laughs.xml", ": DOCTYPE not allowed in the white list"),
    ("external-entity.xml", ": DOCTYPE not allowed in the white list"),
    ("external-dtd.xml", ": DOCTYPE not allowed in the white list"),
    ("parameter-entity.xml", ": DOCTYPE not allowed in the white list"),
]


class Out:
    def __init__(self, args, p):
        self.args = args
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")

    def __str__(self):
        return "$ mssgate %s\nexit %s\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.args), self.rc, self.out[-3000:], self.err[-2000:])


def cli(gw, *args):
    p = subprocess.run([MSSGATE, "-c", gw.conf] + list(args), input=b"",
                       capture_output=True, timeout=TIMEOUT)
    return Out(list(args), p)


def fixture(name):
    return os.path.join(FIX, name)


def entries(gw):
    """The trust space as {domain: (route, source)}, from list --json."""
    o = cli(gw, "--json", "trust", "list")
    if o.rc != 0:
        raise RuntimeError(str(o))
    res = {}
    for line in o.out.splitlines():
        e = json.loads(line)
        res[e["domain"]] = (e["route"], e["source"])
    return res


def text_entries(gw):
    """The same from the plain `trust list` table."""
    o = cli(gw, "trust", "list")
    if o.rc != 0:
        raise RuntimeError(str(o))
    lines = o.out.splitlines()
    if not lines or lines[0].split() != ["DOMAIN", "ROUTE", "SOURCE",
                                         "ADDED"]:
        raise RuntimeError("no header: %s" % o)
    res = {}
    for line in lines[1:]:
        domain, route, source, added = line.split()
        if not re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", added):
            raise RuntimeError("bad date in %r" % line)
        res[domain] = ("" if route == "-" else route, source)
    return res


def imported(names):
    return {d: ("", "import") for d in names}


def reset(gw):
    """Only valid.xml's domains, as imports."""
    for d, (_, source) in entries(gw).items():
        if source != "import" or d not in VALID:
            cli(gw, "trust", "del", d)
    o = cli(gw, "trust", "import", fixture("valid.xml"))
    if o.rc != 0 or entries(gw) != imported(VALID):
        raise RuntimeError("reset failed: %s" % o)


GW = []


def gateway():
    """One gateway for every test; its store exists once it started."""
    if not GW:
        gw = Gateway(name="trust")
        gw.start()
        gw.stop()
        GW.append(gw)
    return GW[0]


# --- tests -------------------------------------------------------------


def test_usage():
    gw = gateway()
    o = cli(gw, "help")
    for cmd in ("trust import FILE [--skip-bad]", "trust list",
                "trust add DOMAIN [--route HOST:PORT]", "trust del DOMAIN"):
        t.ok(o.rc == 0 and re.search(r"^\s+%s$" % re.escape(cmd), o.out,
                                     re.M), "help lists '%s'" % cmd, o)
    for args in ([], ["bogus"], ["import"], ["import", "a", "b"],
                 ["import", "--bogus", fixture("valid.xml")],
                 ["list", "extra"], ["add"], ["add", "a.test", "--route"],
                 ["add", "a.test", "--rout", "h:25"],
                 ["add", "a.test", "b.test"], ["del"], ["del", "a", "b"]):
        o = cli(gw, "trust", *args)
        t.ok(o.rc == EX_USAGE and o.out == "" and
             "usage: mssgate trust import FILE" in o.err,
             "trust %s: exit 64 with the usage" % " ".join(args), o)
    o = cli(gw, "trust", "list")
    t.ok(o.rc == 0 and o.out.split() == ["DOMAIN", "ROUTE", "SOURCE",
                                         "ADDED"],
         "list of an empty trust space: the header only", o)
    o = cli(gw, "--json", "trust", "list")
    t.ok(o.rc == 0 and o.out == "", "list --json of an empty trust space: "
         "no line", o)


def test_import():
    gw = gateway()
    o = cli(gw, "trust", "import", fixture("valid.xml"))
    t.ok(o.rc == 0 and o.out == "added 8, removed 0, kept 0\n" and
         o.err == "", "import valid.xml: added 8 (duplicates, empty "
         "names and names outside Domaine left out)", o)
    t.eq(entries(gw), imported(VALID), "list --json: the 8 domains, "
         "normalized, as imports without a route")
    t.eq(text_entries(gw), imported(VALID), "list: the same 8 in the table")
    o = cli(gw, "--json", "trust", "list")
    first = json.loads(o.out.splitlines()[0])
    t.ok(set(first) == {"domain", "route", "source", "added"} and
         isinstance(first["added"], int) and first["added"] > 1600000000,
         "list --json: domain, route, source, added (Unix time)", first)

    o = cli(gw, "trust", "import", fixture("valid.xml"))
    t.ok(o.rc == 0 and o.out == "added 0, removed 0, kept 8\n",
         "re-import of the same list: nothing added or removed", o)
    o = cli(gw, "--json", "trust", "import", fixture("valid.xml"))
    t.ok(o.rc == 0 and json.loads(o.out) == {
        "file": fixture("valid.xml"), "domains": 8, "added": 0,
        "removed": 0, "kept": 8, "skipped": 0},
        "import --json: file, domains, added, removed, kept, skipped", o)

    # An administrator's own entries: one of their own, one with a
    # route, one the list names (taken over, with a route), one the
    # changed list will no longer name.
    for args, want in (
            (["admin-own.example"], "added admin-own.example\n"),
            (["Route.Example", "--route", "127.0.0.1:2525"],
             "added route.example (route 127.0.0.1:2525)\n"),
            (["alpha.mssante.fr", "--route", "[::1]:25"],
             "added alpha.mssante.fr (route [::1]:25)\n"),
            (["GAMMA.mssante.fr."], "added gamma.mssante.fr\n")):
        o = cli(gw, "trust", "add", *args)
        t.ok(o.rc == 0 and o.out == want,
             "add %s: %r" % (" ".join(args), want.strip()), o)
    admin = {"admin-own.example": ("", "admin"),
             "route.example": ("127.0.0.1:2525", "admin"),
             "alpha.mssante.fr": ("[::1]:25", "admin"),
             "gamma.mssante.fr": ("", "admin")}
    o = cli(gw, "trust", "import", fixture("valid.xml"))
    t.ok(o.rc == 0 and o.out == "added 0, removed 0, kept 6\n",
         "re-import after the adds: the list's two admin entries are "
         "left alone", o)
    want = imported(VALID)
    want.update(admin)
    t.eq(entries(gw), want, "the admin entries kept their source and route")

    # The changed list: zeta, centre-santé and больница come, epsilon
    # goes; gamma (admin) stays although the list dropped it; alpha
    # (admin) keeps its route although the list still names it.
    o = cli(gw, "trust", "import", fixture("changed.xml"))
    t.ok(o.rc == 0 and o.out == "added 3, removed 1, kept 5\n",
         "import changed.xml: added 3, removed 1, kept 5", o)
    want = imported(CHANGED)
    want.update(admin)
    t.eq(entries(gw), want, "after changed.xml: its domains, plus every "
         "admin entry as it was; epsilon gone")
    t.eq(text_entries(gw), want, "list: the same in the table")

    # --skip-bad: the bad names are counted, the good ones imported.
    o = cli(gw, "trust", "import", "--skip-bad", fixture("bad-names.xml"))
    t.ok(o.rc == 0 and o.out == "added 0, removed 7, kept 1\n"
         "skipped 4 bad names\n", "import --skip-bad bad-names.xml: "
         "alpha (admin) and beta kept, 4 bad names skipped", o)
    want = imported({"beta.mssante.fr"})
    want.update(admin)
    t.eq(entries(gw), want, "after --skip-bad: beta and the admin entries")
    o = cli(gw, "--json", "trust", "import", fixture("bad-names.xml"),
            "--skip-bad")
    t.ok(o.rc == 0 and json.loads(o.out)["skipped"] == 4,
         "import --json --skip-bad: skipped 4", o)

    o = cli(gw, "trust", "import", fixture("latin1.xml"))
    want = imported({"xn--hpital-exemple-0ob.mssante.fr"})
    want.update(admin)
    t.ok(o.rc == 0 and entries(gw) == want,
         "import latin1.xml: its one name, read as ISO-8859-1", o)
    reset(gw)


def test_refused_files():
    gw = gateway()
    reset(gw)
    before = entries(gw)
    for name, msg in REFUSED:
        path = fixture(name)
        for extra in ([], ["--skip-bad"]):
            if extra and "character not allowed" in msg:
                continue    # --skip-bad would import the good ones
            o = cli(gw, "trust", "import", path, *extra)
            t.ok(o.rc == EX_DATAERR and o.out == "" and
                 o.err == "mssgate: %s%s; nothing imported\n" % (path, msg),
                 "import %s%s: exit 65, '%s'" % (name, " --skip-bad" if extra
                                                  else "", msg.lstrip(":")),
                 o)
    o = cli(gw, "--json", "trust", "import", fixture("malformed.xml"))
    t.ok(o.rc == EX_DATAERR and o.out == "" and "malformed.xml:8: " in o.err,
         "import --json of a malformed file: exit 65, no JSON", o)
    t.eq(entries(gw), before, "after every refused file: the trust space "
         "unchanged")

    missing = os.path.join(gw.tmp, "missing.xml")
    o = cli(gw, "trust", "import", missing)
    t.ok(o.rc == EX_NOINPUT and o.err == "mssgate: %s: cannot open: No such "
         "file or directory; nothing imported\n" % missing,
         "import of a missing file: exit 66, named", o)
    o = cli(gw, "trust", "import", gw.tmp)
    t.ok(o.rc == EX_DATAERR and o.err == "mssgate: %s: not a regular file; "
         "nothing imported\n" % gw.tmp, "import of a folder: exit 65", o)
    # a list cut mid-download, at a tag
    data = open(fixture("valid.xml"), "rb").read()
    cut = os.path.join(gw.tmp, "cut.xml")
    with open(cut, "wb") as f:
        f.write(data[:data.index(b"<Nom>gamma") + 3])
    o = cli(gw, "trust", "import", cut)
    t.ok(o.rc == EX_DATAERR and re.match(
        r"mssgate: %s:47: .* \(the file ends there: truncated\?\); nothing "
        r"imported\n$" % re.escape(cut), o.err),
        "import of a list cut inside a tag: the line, and truncated?", o)
    t.eq(entries(gw), before, "the trust space still unchanged")


def test_no_outside_access():
    """Entities, DTDs and includes pointing at a FIFO (opening it would
    block the CLI) and at a loopback port that listens (a connection
    would be seen): refused or ignored, promptly, nothing connected."""
    gw = gateway()
    reset(gw)
    before = entries(gw)
    d = tempfile.mkdtemp(prefix="trust-xxe-", dir=gw.tmp)
    fifo = os.path.join(d, "canary.fifo")
    os.mkfifo(fifo)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    url = "http://127.0.0.1:%d/white.dtd" % lsock.getsockname()[1]
    root = '<ListeBlancheMSSante xmlns="%s">' % NS
    body = "<Domaine><Nom>leak.mssante.fr</Nom></Domaine></ListeBlancheMSSante>"
    docs = {
        "entity-fifo": '<!DOCTYPE ListeBlancheMSSante [<!ENTITY x SYSTEM '
                       '"file://%s">]>\n%s<Domaine><Nom>&x;</Nom></Domaine>'
                       '</ListeBlancheMSSante>' % (fifo, root),
        "dtd-fifo": '<!DOCTYPE ListeBlancheMSSante SYSTEM "%s">\n%s%s'
                    % (fifo, root, body),
        "pe-fifo": '<!DOCTYPE ListeBlancheMSSante [<!ENTITY %% p SYSTEM '
                   '"%s"> %%p;]>\n%s%s' % (fifo, root, body),
        "entity-net": '<!DOCTYPE ListeBlancheMSSante [<!ENTITY x SYSTEM '
                      '"%s">]>\n%s<Domaine><Nom>&x;</Nom></Domaine>'
                      '</ListeBlancheMSSante>' % (url, root),
        "dtd-net": '<!DOCTYPE ListeBlancheMSSante PUBLIC "-//X//Y" "%s">\n'
                   '%s%s' % (url, root, body),
    }
    for name, doc in docs.items():
        path = os.path.join(d, name + ".xml")
        with open(path, "w") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n' + doc + "\n")
        try:
            o = cli(gw, "trust", "import", path)
        except subprocess.TimeoutExpired:
            t.ok(False, "import %s: returns (it blocked: the FIFO was "
                 "opened)" % name)
            continue
        t.ok(o.rc == EX_DATAERR and o.err == "mssgate: %s: DOCTYPE not "
             "allowed in the white list; nothing imported\n" % path,
             "import %s: refused, DOCTYPE not allowed" % name, o)
    # XInclude is not processed: the include is an unknown element.
    path = os.path.join(d, "xinclude.xml")
    with open(path, "w") as f:
        f.write('<?xml version="1.0"?>\n%s<ListeDomaines>%s</ListeDomaines>'
                '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                'href="%s" parse="text"/><xi:include xmlns:xi="http://www.w3'
                '.org/2001/XInclude" href="%s"/></ListeBlancheMSSante>\n' % (
                    root, "".join("<Domaine><Nom>%s</Nom></Domaine>" % n
                                  for n in sorted(VALID)), fifo, url))
    try:
        o = cli(gw, "trust", "import", path)
        t.ok(o.rc == 0 and o.out == "added 0, removed 0, kept 8\n",
             "a list with XInclude elements: imported, the includes "
             "ignored", o)
    except subprocess.TimeoutExpired:
        t.ok(False, "import with XInclude returns (it blocked on the FIFO)")
    ready, _, _ = select.select([lsock], [], [], 0.5)
    t.ok(not ready, "no connection to the loopback listener named in the "
         "files")
    lsock.close()
    t.eq(entries(gw), before, "the trust space unchanged, no leak.mssante.fr")


def test_add_del():
    gw = gateway()
    reset(gw)
    before = entries(gw)
    bad_names = [
        ("bad_domain.fr", "character not allowed in a domain name"),
        ("", "empty name"),
        ("-lead.fr", "label starts or ends with a hyphen"),
        ("a..b.fr", "empty label"),
        ("1.2.3.4", "all-numeric top-level label"),
        ("x" * 64 + ".fr", "label longer than 63 octets"),
        (".".join(["y" * 63] * 4) + ".fr", "name longer than 253 octets"),
        ("e\u0301cole.fr", "decomposed accent (the name must be in NFC)"),
    ]
    for name, why in bad_names:
        o = cli(gw, "trust", "add", name)
        t.ok(o.rc == EX_DATAERR and o.out == "" and
             o.err == "mssgate: '%s': not a domain name (%s)\n" % (name, why),
             "add %r: exit 65, %s" % (name[:40], why), o)
    shape = "expected HOST:PORT, port 1 to 65535"
    bad_routes = [
        ("nohost", shape), ("127.0.0.1:0", shape), ("127.0.0.1:65536", shape),
        ("127.0.0.1:x", shape), (":25", shape), ("127.0.0.1:", shape),
        ("bad_host:25", "bad host (character not allowed in a domain "
         "name)"),
        ("[zz]:25", "bad host (bad address)"),
        ("[::1:25", "bad host (bad address)"),
    ]
    for route, why in bad_routes:
        o = cli(gw, "trust", "add", "ok.example", "--route", route)
        t.ok(o.rc == EX_DATAERR and o.out == "" and
             o.err == "mssgate: route '%s': %s\n" % (route, why),
             "add --route %s: exit 65, %s" % (route, why), o)
    t.eq(entries(gw), before, "after the refused adds: nothing added")

    o = cli(gw, "trust", "add", "H\u00f4pital.MSSant\u00e9.fr", "--route",
            "MX.Relay.Example:25")
    t.ok(o.rc == 0 and o.out == "added xn--hpital-ixa.xn--mssant-gva.fr "
         "(route mx.relay.example:25)\n",
         "add of a U-label name: stored as A-labels, the route's host "
         "lower-cased", o)
    o = cli(gw, "--json", "trust", "add", "json.example", "--route",
            "[0:0::1]:2525")
    j = json.loads(o.out) if o.rc == 0 else {}
    t.ok(o.rc == 0 and set(j) == {"domain", "route", "source", "added"} and
         j["domain"] == "json.example" and j["route"] == "[::1]:2525" and
         j["source"] == "admin", "add --json: the entry, IPv6 route in "
         "canonical form", o)
    want = dict(before)
    want["xn--hpital-ixa.xn--mssant-gva.fr"] = ("mx.relay.example:25",
                                                "admin")
    want["json.example"] = ("[::1]:2525", "admin")
    t.eq(entries(gw), want, "list shows both admin entries")

    o = cli(gw, "trust", "del", "unknown.example")
    t.ok(o.rc == EX_NOUSER and o.out == "" and
         o.err == "mssgate: unknown.example: not in the trust list\n",
         "del of an unknown domain: exit 67, named", o)
    o = cli(gw, "trust", "del", "bad_domain.fr")
    t.ok(o.rc == EX_DATAERR and "not a domain name" in o.err,
         "del of a bad name: exit 65", o)
    o = cli(gw, "trust", "del", "h\u00f4pital.mssant\u00e9.FR.")
    t.ok(o.rc == 0 and o.out == "deleted xn--hpital-ixa.xn--mssant-gva.fr\n",
         "del by its U-label form: deleted", o)
    o = cli(gw, "--json", "trust", "del", "JSON.example")
    t.ok(o.rc == 0 and o.out != "" and json.loads(o.out) == {
        "domain": "json.example", "deleted": True},
        "del --json: {domain, deleted: true}", o)
    o = cli(gw, "--json", "trust", "del", "json.example")
    t.ok(o.rc == EX_NOUSER and o.out == "", "del twice: exit 67", o)
    o = cli(gw, "trust", "del", "beta.mssante.fr")
    t.ok(o.rc == 0, "del of an imported domain", o)
    want = dict(before)
    del want["beta.mssante.fr"]
    t.eq(entries(gw), want, "after the deletes: as before, less beta")
    o = cli(gw, "trust", "import", fixture("valid.xml"))
    t.ok(o.rc == 0 and o.out == "added 1, removed 0, kept 7\n",
         "a re-import brings a deleted imported domain back", o)


def rcpt(c, addr):
    code, text = c.rcpt(addr)
    return code, text.decode("utf-8", "replace")


def test_live():
    """The same store while the daemon runs: RCPT sees each change at
    once, in the same session."""
    gw = gateway()
    reset(gw)
    gw.start()
    alice = "alice@" + gw.domain
    pw = gw.add_user(alice)
    refused = r"^5\.7\.1 <%s>: Recipient address rejected: domain not in " \
              r"the MSSante trust space$"
    c = gw.smtp(login=alice, password=pw)
    try:
        code, _ = c.mail(alice)
        t.eq(code, 250, "MAIL FROM")
        addr = "bob@live.example"
        code, text = rcpt(c, addr)
        t.ok(code == 550 and re.match(refused % re.escape(addr), text),
             "RCPT to a domain outside the trust space: 550 5.7.1 ... not "
             "in the MSSante trust space", (code, text))

        o = cli(gw, "trust", "add", "Live.Example")
        t.ok(o.rc == 0, "daemon running: trust add live.example", o)
        code, text = rcpt(c, addr)
        t.eq(code, 250, "RCPT to the domain just added: 250")
        code, text = rcpt(c, "Carol@LIVE.EXAMPLE")
        t.eq(code, 250, "RCPT to it in upper case: 250")

        o = cli(gw, "trust", "del", "live.example")
        t.ok(o.rc == 0, "daemon running: trust del live.example", o)
        code, text = rcpt(c, addr)
        t.ok(code == 550 and re.match(refused % re.escape(addr), text),
             "RCPT to the domain just deleted: 550 5.7.1 ... domain not in "
             "the MSSante trust space", (code, text))

        for a in ("x@epsilon.mssante.fr", "x@xn--cole-9oa.mssante.fr"):
            code, text = rcpt(c, a)
            t.eq(code, 250, "RCPT %s (imported): 250" % a)
        o = cli(gw, "trust", "import", fixture("malformed.xml"))
        t.eq(o.rc, EX_DATAERR, "daemon running: a malformed list refused")
        code, text = rcpt(c, "x@epsilon.mssante.fr")
        t.eq(code, 250, "after the refused import: epsilon still accepted")
        o = cli(gw, "trust", "import", fixture("changed.xml"))
        t.ok(o.rc == 0 and o.out == "added 3, removed 2, kept 6\n",
             "daemon running: import changed.xml", o)
        code, text = rcpt(c, "x@epsilon.mssante.fr")
        t.ok(code == 550 and re.match(refused % "x@epsilon\\.mssante\\.fr",
                                      text),
             "RCPT to the domain the import dropped: 550 5.7.1", (code, text))
        for a in ("x@zeta.mssante.fr", "x@xn--80abvlke3d3b.mssante.fr",
                  "x@xn--cole-9oa.mssante.fr"):
            code, text = rcpt(c, a)
            t.eq(code, 250, "RCPT %s (the import added or kept it): 250" % a)
        c.rset()
    finally:
        c.quit()
    log = gw.log_text()
    t.like(log, r'reject .*to=.?bob@live\.example.*reason="not in trust '
           r'space"', "the refusals are logged with their reason")
    gw.stop()
    t.eq(entries(gw), dict(imported(CHANGED)), "after the daemon stopped: "
         "the store holds the changed list")


run_tests(t, test_usage, test_import, test_refused_files,
          test_no_outside_access, test_add_del, test_live)
