# SPDX-License-Identifier: MIT
"""The professional directory commands of `mssgate` against a private
gateway: `dir import FILE [--format F] [--strict] | search ... | show X |
resolve X | stats | set FILE|- | del ID|KEY`, plain and --json.

The CLI works on the store itself, so everything is run with the daemon
stopped, then an import, a search and a set while it runs. Checked, on
synthetic extracts written here (31-column Extraction_Correspondance_
MSSante lines) and on the generator's bigger ones when it is there: the
counts of a first import, of a re-import with changes and removals
(computed from the lines, or given by the generator's --expect file) and
of a re-import of the same file (all unchanged); searches by name prefix
without case or accents, IdNat_PS, RPPS, address, organization and
combined filters; pages that are stable, ordered and do not overlap; show
by id, key, address and IdNat_PS; resolve with the channels that reach a
record; stats; set of a local record (file and stdin) and of local fields
(push, channels) on an imported record, which survive a re-import; del;
usage errors (64), unknown records (67), a missing file (66). And every
bad input (truncated file, missing columns, Latin-1 bytes, unknown
header, FHIR with a DOCTYPE (billion laughs, external entity) or invalid
XML, bad JSON) refused with exit 65 and one line "FILE:LINE: reason",
the directory exactly as before (every record and the stats compared);
a bad line skipped and reported without --strict, fatal with it.
"""

import json
import os
import re
import subprocess
import tempfile

from mssgate_test import MSSGATE, SRCDIR, Gateway, Tap, run_tests

t = Tap()

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
TIMEOUT = 120
SRC = os.path.abspath(SRCDIR)
FIX = os.path.join(SRC, "tests", "fixtures", "directory")
GEN = os.path.join(SRC, "tests", "fixtures", "gen-directory")
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


class Out:
    def __init__(self, args, p):
        self.args = args
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")

    def __str__(self):
        return "$ mssgate %s\nexit %s\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.args), self.rc, self.out[-3000:], self.err[-2000:])

    def json_lines(self):
        return [json.loads(x) for x in self.out.splitlines() if x]


def cli(gw, *args, input=b""):
    p = subprocess.run([MSSGATE, "-c", gw.conf] + list(args), input=input,
                       capture_output=True, timeout=TIMEOUT)
    return Out(list(args), p)


def skip(name, why):
    print("ok %d - %s # SKIP %s" % (t.n + 1, name, why), flush=True)
    t.n += 1


# --- synthetic extracts --------------------------------------------------

MSS_HEADER = [
    "Type de BAL", "Adresse BAL", "Type identifiant PP", "Identifiant PP",
    "Identification nationale PP", "Type identifiant structure",
    "Identification Structure", "Service de rattachement",
    "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
    "Catégorie profession", "Libellé de catégorie profession",
    "Code Profession", "Libellé Profession", "Code savoir-faire",
    "Libellé savoir-faire", "Dématérialisation",
    "Raison Sociale structure BAL", "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION", "L3COMPLEMENTDISTRIBUTION",
    "L4NUMEROVOIE", "L4COMPLEMENTNUMEROVOIE", "NL4TYPEVOIE",
    "L4LIBELLEVOIE", "L5LIEUDITMENTION", "L6LIGNEACHEMINEMENT",
    "Code postal", "Département", "Pays"]
assert len(MSS_HEADER) == 31

SIRET = "19900000000017"      # synthetic, like every value here
PROF = {"10": "Médecin", "50": "Sage-femme", "60": "Infirmier",
        "70": "Masseur-kinésithérapeute"}


def row(addr, family="", given="", idtype="8", pp="", prof="10",
        sf=("SM54", "Médecine générale"), bal="PER", org=SIRET,
        org_name="Centre Hospitalier Fictif", street=("12", "", "RUE",
                                                     "DES ESSAIS"),
        postcode="75012", city="PARIS", civ="DR"):
    """One line of the MSS extract (31 columns and the trailing '|')."""
    idnat = idtype + pp if pp else ""
    cols = [bal, addr, idtype if pp else "", pp, idnat,
            "3" if org else "", "3" + org if org else "", "", civ if pp
            else "", family, given, "C" if pp else "", "Civil" if pp
            else "", prof if pp else "", PROF.get(prof, "") if pp else "",
            sf[0] if pp else "", sf[1] if pp else "", "O", org_name, "",
            "", "", street[0], street[1], street[2], street[3], "",
            "%s %s" % (postcode, city), postcode, postcode[:2], "FRANCE"]
    assert len(cols) == 31
    return "|".join(cols) + "|"


def header():
    return "|".join(MSS_HEADER) + "|"


A = "helene.exemple@chu-fictif.mssante.test"
B = "helene.exemple@cabinet-fictif.mssante.test"
C = "helene.essai@maternite-fictive.mssante.test"
D = "jean.fictif@chu-fictif.mssante.test"
F = "secretariat.cardio@chu-fictif.mssante.test"
H = "zoe.riviere-essai@kine-fictif.mssante.test"
I = "paul.nouveau@chu-fictif.mssante.test"
IDNAT_A = "819900000001"


def base_rows():
    rows = [
        row(A, "EXEMPLE", "Hélène", pp="19900000001"),
        row(B, "EXEMPLE", "Hélène", pp="19900000001", bal="CAB",
            org="", org_name="Cabinet Fictif", postcode="13005",
            city="MARSEILLE", street=("3", "B", "BD", "DU TEST")),
        row(C, "ESSAI", "Hélène", pp="19900000002", prof="50",
            sf=("", ""), org="19900000000025",
            org_name="Maternité Fictive", postcode="69003", city="LYON"),
        row(D, "FICTIF", "Jean", pp="19900000003"),
        row(D, "FICTIF", "Jean", pp="19900000003"),    # merged
        row(F, bal="ORG", org_name="Centre Hospitalier Fictif"),
        row(H, "RIVIÈRE-ESSAI", "Zoé", idtype="0", pp="019900001",
            prof="70", sf=("", ""), org="", org_name="Cabinet Kiné "
            "Fictif", postcode="33000", city="BORDEAUX"),
    ]
    for k in range(1, 26):
        rows.append(row("alix%02d.pagine@ide-fictif.mssante.test" % k,
                        "PAGINE", "Alix%02d" % k,
                        pp="199000100%02d" % k, prof="60", sf=("", ""),
                        org="", org_name="Cabinet Infirmier Fictif",
                        postcode="33000", city="BORDEAUX"))
    return rows


def changed_rows():
    """C moved, F gone, I new."""
    rows = []
    for r in base_rows():
        addr = r.split("|")[1]
        if addr == F:
            continue
        if addr == C:
            r = row(C, "ESSAI", "Hélène", pp="19900000002", prof="50",
                    sf=("", ""), org="19900000000025",
                    org_name="Maternité Fictive", postcode="69007",
                    city="LYON")
        rows.append(r)
    rows.append(row(I, "NOUVEAU", "Paul", pp="19900000009"))
    return rows


def expected(old_rows, new_rows):
    """The counts an import of new_rows gives after old_rows: each key's
    first line decides added / changed / unchanged; its later lines are
    merged (identical here); keys no longer there are removed."""
    def first(rows):
        d, merged = {}, 0
        for r in rows:
            k = r.split("|")[1]
            if k in d:
                merged += 1
            else:
                d[k] = r
        return d, merged
    old, _ = first(old_rows)
    new, merged = first(new_rows)
    return {"added": len(set(new) - set(old)),
            "changed": sum(1 for k in new if k in old and new[k] != old[k]),
            "removed": len(set(old) - set(new)),
            "unchanged": sum(1 for k in new if old.get(k) == new[k]),
            "merged": merged}


def write(path, lines, raw=None):
    with open(path, "wb") as f:
        if raw is not None:
            f.write(raw)
        else:
            f.write(("\n".join(lines) + "\n").encode("utf-8"))
    return path


SUMMARY = re.compile(r"^(?P<file>.+): (?P<added>\d+) added, (?P<changed>\d+) "
                     r"changed, (?P<removed>\d+) removed, (?P<unchanged>\d+)"
                     r" unchanged, (?P<merged>\d+) merged, (?P<bad>\d+) bad "
                     r"lines? skipped \(\d+\.\d+ s, (in place|rebuilt)\)\n$")


def counts(o):
    """The counts of an import's summary line, or None."""
    m = SUMMARY.match(o.out) if o.rc == 0 else None
    if m is None:
        return None
    return {k: int(v) if k != "file" else v for k, v in m.groupdict().items()}


COUNT_KEYS = ("added", "changed", "removed", "unchanged", "merged")


def want_counts(e, bad=0):
    d = {k: e[k] for k in COUNT_KEYS}
    d["bad"] = bad
    return d


# --- reading the directory back -------------------------------------------

def search(gw, *args):
    o = cli(gw, "--json", "dir", "search", *args)
    if o.rc != 0:
        raise RuntimeError(str(o))
    return o.json_lines()


def keys(recs):
    return [r["key"] for r in recs]


def show_json(gw, what):
    o = cli(gw, "--json", "dir", "show", str(what))
    return o.json_lines() if o.rc == 0 else None


def stats(gw):
    o = cli(gw, "--json", "dir", "stats")
    if o.rc != 0:
        raise RuntimeError(str(o))
    return json.loads(o.out)


MAX_ID = [0]


def snapshot(gw):
    """Everything the directory holds: the stats and each record by id,
    up to a few past the highest id seen."""
    st = stats(gw)
    recs = {}
    for i in range(1, MAX_ID[0] + 6):
        r = show_json(gw, i)
        if r is not None:
            recs[i] = r
    return st, recs


def same(a, b, name):
    """a == b for two snapshots, with a short account of what differs."""
    if a == b:
        return t.ok(True, name)
    diff = []
    if a[0] != b[0]:
        diff.append("stats: %r\n    != %r" % (a[0], b[0]))
    for i in sorted(set(a[1]) | set(b[1])):
        if a[1].get(i) != b[1].get(i):
            diff.append("record %d: %r\n    != %r" % (
                i, a[1].get(i), b[1].get(i)))
    return t.ok(False, name, "\n".join(diff[:6]))


def note_ids(recs):
    for r in recs:
        MAX_ID[0] = max(MAX_ID[0], r["id"])


GW = []


def gateway():
    if not GW:
        gw = Gateway(name="dir")
        gw.start()
        gw.stop()
        GW.append(gw)
        gw.files = tempfile.mkdtemp(prefix="dir-files-", dir=gw.tmp)
    return GW[0]


def path(gw, name):
    return os.path.join(gw.files, name)


def import_base(gw):
    return cli(gw, "dir", "import", write(path(gw, "base.txt"),
                                          [header()] + base_rows()))


# --- tests ----------------------------------------------------------------


def test_usage():
    gw = gateway()
    o = cli(gw, "help")
    for cmd in ("dir import FILE [--format mss|ps|fhir|json] [--strict] [--rebuild]",
                "dir show ID|KEY|ADDRESS|IDNAT", "dir resolve WHAT",
                "dir stats", "dir del ID|KEY"):
        t.ok(o.rc == 0 and re.search(r"^\s+%s$" % re.escape(cmd), o.out,
                                     re.M), "help lists '%s'" % cmd, o)
    for args in ([], ["bogus"], ["import"], ["import", "a", "b"],
                 ["import", "--bogus", "x"], ["import", "x", "--format"],
                 ["import", "x", "--format", "xml"], ["search"],
                 ["search", "--name"], ["search", "--bogus", "x"],
                 ["search", "--limit", "5"], ["search", "--name", ""],
                 ["search", "--name", "a", "--limit", "0"],
                 ["search", "--name", "a", "--limit", "1001"],
                 ["search", "--name", "a", "--offset", "x"],
                 ["search", "--name", "a", "--name", "b"],
                 ["show"], ["show", "a", "b"], ["resolve"],
                 ["stats", "x"], ["set"], ["set", "a", "b"], ["del"],
                 ["del", "nokey"]):
        o = cli(gw, "dir", *args)
        t.ok(o.rc == EX_USAGE and o.out == "" and
             "usage: mssgate dir import FILE" in o.err,
             "dir %s: exit 64 with the usage" % " ".join(args), o)
    o = cli(gw, "--json", "dir", "stats")
    j = json.loads(o.out) if o.rc == 0 else {}
    t.ok(o.rc == 0 and j.get("records") == 0 and
         j.get("last_import", {}).get("mss", 0) is None,
         "stats of an empty directory: 0 records, never imported", o)
    o = cli(gw, "dir", "search", "--name", "exemple")
    t.ok(o.rc == 0 and o.out == "0 records\n",
         "search of an empty directory: 0 records", o)
    o = cli(gw, "dir", "show", "1")
    t.ok(o.rc == EX_NOUSER and o.err == "mssgate: 1: not in the "
         "directory\n", "show of an unknown id: exit 67", o)


def test_import():
    gw = gateway()
    base = path(gw, "base.txt")
    o = import_base(gw)
    e = expected([], base_rows())
    t.eq(counts(o), dict(want_counts(e), file=base),
         "first import: %(added)d added, %(merged)d merged" % e)
    t.eq(o.err, "", "first import: nothing on stderr")
    st = stats(gw)
    t.ok(st["records"] == e["added"] and st["by_source"]["mss"] ==
         e["added"] and st["mailboxes"] == e["added"] and
         isinstance(st["last_import"]["mss"], int) and
         st["last_import"]["mss"] > 1600000000 and
         st["last_import"]["ps"] is None,
         "stats --json: the records, all mss, one mailbox each, the time "
         "of the mss import", st)
    o = cli(gw, "dir", "stats")
    t.ok(o.rc == 0 and re.search(r"^records:\s+%d$" % e["added"], o.out,
                                 re.M) and
         re.search(r"^last import mss\s+%s$" % ISO, o.out, re.M) and
         re.search(r"^last import ps\s+never$", o.out, re.M),
         "stats: records and the date of the last import per source", o)

    o = cli(gw, "dir", "import", base)
    t.eq(counts(o), dict(want_counts(expected(base_rows(), base_rows())),
                         file=base),
         "re-import of the same file: all unchanged")
    o = cli(gw, "--json", "dir", "import", "--format", "mss", base)
    j = json.loads(o.out) if o.rc == 0 else {}
    t.ok(set(j) == {"file", "format", "mode", "added", "changed",
                    "removed", "unchanged", "merged", "bad", "seconds"} and
         j["file"] == base and j["format"] == "mss" and
         j["mode"] == "in place" and
         j["unchanged"] == e["added"] and j["added"] == 0 and
         isinstance(j["seconds"], float),
         "import --json --format mss: one object, all unchanged", o)

    changed = write(path(gw, "changed.txt"), [header()] + changed_rows())
    o = cli(gw, "dir", "import", changed)
    e2 = expected(base_rows(), changed_rows())
    t.eq(counts(o), dict(want_counts(e2), file=changed),
         "import of the changed file: 1 added, 1 changed, 1 removed")
    t.ok(search(gw, "--address", F) == [] and
         len(search(gw, "--address", I)) == 1 and
         [r["postcode"] for r in search(gw, "--address", C)] == ["69007"],
         "after it: F gone, I there, C moved")
    o = cli(gw, "dir", "import", changed)
    t.eq(counts(o), dict(want_counts(expected(changed_rows(),
                                              changed_rows())),
                         file=changed), "its re-import: all unchanged")
    o = import_base(gw)
    t.eq(counts(o), dict(want_counts(expected(changed_rows(), base_rows())),
                         file=base), "back to the base file")
    for x in ("helene", "pagine", "fictif", "essai", "riv"):
        note_ids(search(gw, "--name", x, "--limit", "1000"))
    note_ids(search(gw, "--org", SIRET))


def test_search():
    gw = gateway()
    want = sorted([A, B, C])
    for q in ("helene", "HELENE", "hél", "HÉLÈNE", "Hélène"):
        t.eq(sorted(k[4:] for k in keys(search(gw, "--given", q))), want,
             "--given %s finds the three Hélène" % q)
    t.eq(sorted(keys(search(gw, "--name", "exé"))),
         sorted(["mss:" + A, "mss:" + B]), "--name exé: EXEMPLE's two")
    t.eq(keys(search(gw, "--name", "riviere")), ["mss:" + H],
         "--name riviere finds RIVIÈRE-ESSAI")
    t.eq(sorted(keys(search(gw, "--idnat", IDNAT_A))),
         sorted(["mss:" + A, "mss:" + B]), "--idnat: both mailboxes of "
         "one professional")
    t.eq(keys(search(gw, "--idnat", "0019900001")), ["mss:" + H],
         "--idnat of an ADELI professional")
    t.eq(sorted(keys(search(gw, "--rpps", "19900000001"))),
         sorted(["mss:" + A, "mss:" + B]), "--rpps")
    t.eq(keys(search(gw, "--address", A.upper())), ["mss:" + A],
         "--address, in upper case")
    t.eq(sorted(keys(search(gw, "--org", SIRET))),
         sorted(["mss:" + A, "mss:" + D, "mss:" + F]), "--org SIRET")
    t.eq(keys(search(gw, "--given", "hélène", "--city", "paris")),
         ["mss:" + A], "--given hélène --city paris")
    t.eq(sorted(keys(search(gw, "--profession", "10", "--postcode",
                            "75012"))), sorted(["mss:" + A, "mss:" + D]),
         "--profession 10 --postcode 75012")
    t.eq(keys(search(gw, "--given", "hél", "--profession", "50")),
         ["mss:" + C], "--given hél --profession 50")
    t.eq(keys(search(gw, "--city", "mars")), ["mss:" + B], "--city mars")
    t.eq(search(gw, "--name", "exemple", "--city", "lyon"), [],
         "criteria that exclude each other: nothing")

    pages = [search(gw, "--name", "pagine", "--limit", "10", "--offset",
                    str(off)) for off in (0, 10, 20)]
    t.eq([len(p) for p in pages], [10, 10, 5], "pages of 10: 10, 10, 5")
    allk = [r["key"] for p in pages for r in p]
    t.ok(len(set(allk)) == 25 and allk == ["mss:alix%02d.pagine@ide-fictif"
                                           ".mssante.test" % k
                                           for k in range(1, 26)],
         "the pages do not overlap, cover all 25, in given-name order",
         allk)
    again = [search(gw, "--name", "pagine", "--limit", "10", "--offset",
                    str(off)) for off in (0, 10, 20)]
    t.eq(again, pages, "the same pages a second time")
    t.eq(search(gw, "--name", "pagine", "--offset", "25"), [],
         "past the end: nothing")
    o = cli(gw, "dir", "search", "--name", "pagine", "--limit", "10")
    lines = o.out.splitlines()
    t.ok(o.rc == 0 and len(lines) == 12 and lines[0].split()[:2] ==
         ["ID", "NAME"] and
         lines[-1] == "10 records (more follow: --offset 10)",
         "table: a header, 10 rows, '10 records (more follow: --offset "
         "10)'", o)
    t.ok(o.rc == 0 and "PAGINE Alix01" in lines[1] and "Infirmier" in
         lines[1] and "33000 BORDEAUX" in lines[1] and
         "alix01.pagine@ide-fictif.mssante.test" in lines[1],
         "a row: id, FAMILY Given, profession, postcode city, mailbox", o)
    o = cli(gw, "dir", "search", "--name", "pagine", "--limit", "10",
            "--offset", "20")
    t.ok(o.rc == 0 and o.out.splitlines()[-1] == "5 records",
         "last page: '5 records', nothing more", o)
    o = cli(gw, "dir", "search", "--given", "hélène", "--city", "paris")
    t.ok(o.rc == 0 and "EXEMPLE Hélène" in o.out and "Médecin" in o.out
         and "75012 PARIS" in o.out and A in o.out and
         o.out.endswith("\n1 record\n"), "table of one record", o)


def test_show_resolve():
    gw = gateway()
    a = search(gw, "--address", A)[0]
    o = cli(gw, "dir", "show", str(a["id"]))
    t.ok(o.rc == 0 and
         re.search(r"^id:\s+%d$" % a["id"], o.out, re.M) and
         re.search(r"^key:\s+mss:%s$" % re.escape(A), o.out, re.M) and
         re.search(r"^idnat:\s+%s$" % IDNAT_A, o.out, re.M) and
         re.search(r"^rpps:\s+19900000001$", o.out, re.M) and
         re.search(r"^family name:\s+EXEMPLE$", o.out, re.M) and
         re.search(r"^given name:\s+Hélène$", o.out, re.M) and
         re.search(r"^profession:\s+Médecin \(10\)$", o.out, re.M) and
         re.search(r"^specialty:\s+Médecine générale \(SM54\)$", o.out,
                   re.M) and
         re.search(r"^mailbox:\s+%s \(PER\)$" % re.escape(A), o.out,
                   re.M) and
         re.search(r"^city:\s+PARIS$", o.out, re.M) and
         re.search(r"^source:\s+%s line 2, %s$" % (
             re.escape(path(gw, "base.txt")), ISO), o.out, re.M) and
         not re.search(r"^\S[^:]*:\s*$", o.out, re.M),
         "show ID: 'field: value' for each field set, the source file, "
         "line and date", o)
    for what in ("mss:" + A, A, A.upper()):
        j = show_json(gw, what)
        t.ok(j is not None and len(j) == 1 and j[0]["id"] == a["id"],
             "show --json %s: the record" % what, j)
    j = show_json(gw, IDNAT_A)
    t.ok(j is not None and sorted(keys(j)) == sorted(["mss:" + A,
                                                      "mss:" + B]),
         "show IDNAT: both records of the professional", j)
    j = show_json(gw, "0019900001")
    t.ok(j is not None and keys(j) == ["mss:" + H],
         "show of an ADELI IdNat_PS (leading 0): not read as an id", j)
    for what in ("999999", "mss:nobody@nowhere.test", "nobody@nowhere.test",
                 "819999999999"):
        o = cli(gw, "dir", "show", what)
        t.ok(o.rc == EX_NOUSER and o.out == "" and
             o.err == "mssgate: %s: not in the directory\n" % what,
             "show %s: exit 67" % what, o)

    o = cli(gw, "dir", "resolve", A)
    t.ok(o.rc == 0 and re.search(r"^%d  EXEMPLE Hélène  \(mss:%s\)$" % (
        a["id"], re.escape(A)), o.out, re.M) and
        re.search(r"^    mail: %s$" % re.escape(A), o.out, re.M) and
        re.search(r"^    reachable by: mail$", o.out, re.M) and
        o.out.endswith("\n1 record\n"),
        "resolve ADDRESS: the record, its mailbox, reachable by mail", o)
    o = cli(gw, "--json", "dir", "resolve", IDNAT_A)
    j = o.json_lines() if o.rc == 0 else []
    t.ok(len(j) == 2 and all(r["reachable"] == ["mail"] for r in j),
         "resolve --json IDNAT: two records, reachable by mail", o)
    o = cli(gw, "dir", "resolve", "nobody@nowhere.test")
    t.ok(o.rc == EX_NOUSER and "not in the directory" in o.err,
         "resolve of an unknown address: exit 67", o)


PUSH = {"endpoint": "https://push.example.test/send/abc123",
        "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg"
                  "7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        "auth": "tBHItJI5svbpez7KI4CCXg"}


def test_set_del():
    gw = gateway()
    a = search(gw, "--address", A)[0]
    local_key = "local:astreinte@chu-fictif.mssante.test"
    rec = {"key": local_key, "family": "ASTREINTE", "given": "Garde",
           "mailboxes": [{"address": "astreinte@chu-fictif.mssante.test",
                          "type": "ORG"}],
           "channels": ["push", "mail"], "push": [PUSH],
           "phones": ["06 12 34 56 78", "01 23 45 67 89"],
           "quiet_hours": {"start": "22:00", "end": "07:00"}}
    f = path(gw, "local.json")
    with open(f, "w") as fh:
        json.dump(rec, fh)
    o = cli(gw, "dir", "set", f)
    m = re.match(r"^%s: created \(id (\d+)\)\n$" % re.escape(local_key),
                 o.out)
    t.ok(o.rc == 0 and m, "set of a local record: created (id N)", o)
    lid = int(m.group(1)) if m else 0
    MAX_ID[0] = max(MAX_ID[0], lid)
    j = show_json(gw, local_key)
    t.ok(j is not None and j[0]["id"] == lid and
         j[0]["family"] == "ASTREINTE", "show it by key", j)
    o = cli(gw, "dir", "show", local_key)
    t.ok(o.rc == 0 and
         re.search(r"^mailbox:\s+astreinte@chu-fictif\.mssante\.test "
                   r"\(ORG\)$", o.out, re.M) and
         re.search(r"^phone:\s+\+33612345678\nphone:\s+\+33123456789$",
                   o.out, re.M) and
         re.search(r"^push:\s+%s$" % re.escape(PUSH["endpoint"]), o.out,
                   re.M) and
         re.search(r"^channels:\s+push, mail$", o.out, re.M) and
         re.search(r"^quiet hours:\s+22:00-07:00$", o.out, re.M) and
         re.search(r"^source:\s+%s line 1, %s$" % (re.escape(f), ISO),
                   o.out, re.M),
         "show of the local record: mailbox, phones in E.164, push, "
         "channels, quiet hours, the file it was set from", o)
    o = cli(gw, "dir", "set", "-", input=json.dumps(rec).encode())
    t.ok(o.rc == 0 and o.out == "%s: updated (id %d)\n" % (local_key, lid),
         "set - (stdin) of the same record: updated", o)
    left = [n for n in os.listdir(gw.data) if n.startswith("dir-set.")]
    t.eq(left, [], "no temporary file left in the data folder")
    o = cli(gw, "dir", "resolve", local_key)
    t.ok(o.rc == 0 and "    push: %s\n" % PUSH["endpoint"] in o.out and
         "    mail: astreinte@chu-fictif.mssante.test\n" in o.out and
         "    sms: +33612345678\n" in o.out and
         "    phone: +33123456789\n" in o.out and
         "    channels: push, mail\n" in o.out and
         "    reachable by: push, mail\n" in o.out,
         "resolve of the local record: its contacts (SMS only to the "
         "mobile); reachable by push first, then mail, as it allows", o)

    # local fields on an imported record
    f2 = path(gw, "imported-local.json")
    with open(f2, "w") as fh:
        json.dump({"key": "mss:" + A, "push": [PUSH],
                   "channels": ["push", "mail"], "family": "CHANGED"}, fh)
    o = cli(gw, "dir", "set", f2)
    t.ok(o.rc == 0 and o.out == "mss:%s: updated (id %d)\n" % (A, a["id"]),
         "set of local fields on an imported record: updated", o)
    o = cli(gw, "dir", "show", "mss:" + A)
    t.ok(o.rc == 0 and
         re.search(r"^push:\s+%s$" % re.escape(PUSH["endpoint"]), o.out,
                   re.M) and
         re.search(r"^channels:\s+push, mail$", o.out, re.M) and
         re.search(r"^family name:\s+EXEMPLE$", o.out, re.M),
         "show: its push endpoint and channels; the imported name kept", o)
    o = import_base(gw)
    c = counts(o)
    t.ok(c is not None and c["changed"] == 0 and c["added"] == 0 and
         c["removed"] == 0, "re-import of the extract: nothing changed "
         "(the local part is not compared)", o)
    j = show_json(gw, "mss:" + A)
    t.ok(j is not None and j[0].get("push") == [PUSH] and
         j[0].get("channels") == ["push", "mail"] and
         j[0].get("family") == "EXEMPLE",
         "after the re-import: push and channels still there", j)
    o = cli(gw, "dir", "resolve", A)
    t.ok(o.rc == 0 and "    reachable by: push, mail\n" in o.out,
         "resolve: reachable by push, then mail", o)
    st = stats(gw)
    t.ok(st["with_push"] == 2 and st["by_source"]["local"] == 1,
         "stats: 2 with push, 1 local", st)

    # refused sets: nothing changes, not even the good records before
    before = snapshot(gw)
    bad = path(gw, "bad.json")
    for name, text, line in (
            ("not JSON", '{"key": "local:x@y.test",\n "family": }\n', 2),
            ("an imported key that does not exist",
             json.dumps({"key": "mss:ghost@nowhere.test",
                         "family": "GHOST"}) + "\n", 1),
            ("a good record then a bad one",
             json.dumps({"key": "local:new@chu-fictif.mssante.test",
                         "family": "NEW"}) + "\n" +
             '{"key": "local:bad@x.test", "channels": ["pigeon"]}\n', 2)):
        with open(bad, "w") as fh:
            fh.write(text)
        o = cli(gw, "dir", "set", bad)
        t.ok(o.rc == EX_DATAERR and o.out == "" and
             re.match(r"^mssgate: %s:%d: .+; nothing changed\n$" % (
                 re.escape(bad), line), o.err),
             "set of %s: exit 65, 'FILE:%d: reason'" % (name, line), o)
    o = cli(gw, "dir", "set", "-", input=b"[1, 2")
    t.ok(o.rc == EX_DATAERR and re.match(r"^mssgate: stdin:1: .+\n$", o.err),
         "set - of bad JSON: exit 65, 'stdin:1: reason'", o)
    same(snapshot(gw), before, "after the refused sets: the directory as "
         "it was")
    o = cli(gw, "dir", "set", path(gw, "missing.json"))
    t.eq(o.rc, EX_NOINPUT, "set of a missing file: exit 66")

    # del
    o = cli(gw, "dir", "del", local_key)
    t.ok(o.rc == 0 and o.out == "%s: deleted (id %d)\n" % (local_key, lid),
         "del KEY of the local record", o)
    o = cli(gw, "dir", "show", local_key)
    t.eq(o.rc, EX_NOUSER, "show after del: exit 67")
    o = cli(gw, "dir", "del", local_key)
    t.ok(o.rc == EX_NOUSER and o.err == "mssgate: %s: not in the "
         "directory\n" % local_key, "del again: exit 67", o)
    o = cli(gw, "dir", "del", "999999")
    t.eq(o.rc, EX_NOUSER, "del of an unknown id: exit 67")
    d = search(gw, "--address", D)[0]
    o = cli(gw, "--json", "dir", "del", str(d["id"]))
    t.ok(o.rc == 0 and json.loads(o.out) == {"key": "mss:" + D,
                                             "id": d["id"],
                                             "deleted": True},
         "del --json ID of an imported record", o)
    t.eq(search(gw, "--address", D), [], "it is gone")
    o = import_base(gw)
    c = counts(o)
    t.ok(c is not None and c["added"] == 1 and c["removed"] == 0,
         "the next import brings it back (1 added)", o)


def bad_line_files(gw):
    """(name, path, line number, reason pattern) of files with one bad
    data line among the base lines."""
    rows = base_rows()
    out = []
    short = rows[3].split("|")[:20]
    lat = row("latin@chu-fictif.mssante.test", "ESSAI", "X",
              pp="19900000077").encode().replace(b"|X|", b"|H\xe9l\xe8ne|")
    for name, bad in (("missing-columns", "|".join(short).encode() + b"|"),
                      ("latin1", lat)):
        lines = [x.encode() for x in [header()] + rows]
        lines.insert(4, bad)
        p = write(path(gw, name + ".txt"), None, raw=b"\n".join(lines) +
                  b"\n")
        out.append((name, p, 5))
    return out


def test_bad_input():
    gw = gateway()
    o = import_base(gw)
    note_ids(search(gw, "--name", "fictif"))
    before = snapshot(gw)
    rows = base_rows()

    # bad lines: skipped and reported (a real import: only the time of
    # the last import changes), or fatal with --strict
    files = bad_line_files(gw)
    for name, p, line in files:
        o = cli(gw, "dir", "import", p)
        c = counts(o)
        t.ok(c is not None and c["bad"] == 1 and c["changed"] == 0 and
             c["removed"] == 0 and c["added"] == 0 and
             re.match(r"^mssgate: %s:%d: \S.*\n$" % (re.escape(p), line),
                      o.err),
             "%s: the line skipped, reported as 'FILE:%d: reason', the "
             "others unchanged" % (name, line), o)
    now = snapshot(gw)
    t.eq(now[1], before[1], "every record as it was")
    before = now
    for name, p, line in files:
        o = cli(gw, "dir", "import", "--strict", p)
        t.ok(o.rc == EX_DATAERR and o.out == "" and
             re.match(r"^mssgate: %s:%d: \S.*; nothing imported\n$" % (
                 re.escape(p), line), o.err),
             "%s --strict: exit 65, 'FILE:%d: reason'" % (name, line), o)
    same(snapshot(gw), before, "after them: the directory as it was")

    # many bad lines: 100 printed, then the rest counted
    lines = [header()] + rows + ["x|y|z|"] * 150
    p = write(path(gw, "many-bad.txt"), lines)
    o = cli(gw, "dir", "import", p)
    errs = o.err.splitlines()
    c = counts(o)
    t.ok(c is not None and c["bad"] == 150 and len(errs) == 101 and
         all(re.match(r"^mssgate: %s:\d+: " % re.escape(p), x)
             for x in errs[:100]) and
         errs[100] == "mssgate: ... and 50 more",
         "150 bad lines: 100 shown, '... and 50 more', 150 counted", o)
    before = snapshot(gw)

    # files refused whole
    data = ("\n".join([header()] + rows) + "\n").encode()
    refused = []
    cut = data[:data.index(b"alix10.pagine") + 20]
    refused.append(("truncated", write(path(gw, "truncated.txt"), None,
                                       raw=cut), r"\d+"))
    refused.append(("unknown header", write(path(gw, "header.txt"), [
        "Nom|Prénom|Ville|Code|", "A|B|C|D|"]), "1"))
    refused.append(("only bad lines", write(path(gw, "only-bad.txt"), [
        header(), "x|y|"]), None))
    refused.append(("empty", write(path(gw, "empty.txt"), None, raw=b""),
                    None))
    refused.append(("latin-1 header", write(path(gw, "latin1-header.txt"),
                                            None, raw=header().encode(
                                                "latin-1") + b"\n" +
                                            rows[0].encode("latin-1") +
                                            b"\n"), "1"))
    ns = 'xmlns="http://hl7.org/fhir"'
    laughs = ('<?xml version="1.0"?>\n<!DOCTYPE Bundle [\n'
              ' <!ENTITY a "aaaaaaaaaa">\n'
              + "".join(' <!ENTITY %s "%s">\n' % (chr(98 + k),
                                                  ("&%s;" % chr(97 + k)) * 10)
                        for k in range(9)) +
              ']>\n<Bundle %s><type value="searchset"/><entry><resource>'
              '<Practitioner><id value="x"/><name><family value="&j;"/>'
              '</name></Practitioner></resource></entry></Bundle>\n' % ns)
    refused.append(("FHIR billion laughs", write(path(gw, "laughs.xml"),
                                                 None, raw=laughs.encode()),
                    r"\d+"))
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE Bundle [\n <!ENTITY x SYSTEM '
           '"file:///etc/passwd">\n]>\n<Bundle %s><entry><resource>'
           '<Practitioner><id value="x"/><name><family value="&x;"/>'
           '</name></Practitioner></resource></entry></Bundle>\n' % ns)
    refused.append(("FHIR external entity", write(path(gw, "xxe.xml"), None,
                                                  raw=xxe.encode()), r"\d+"))
    invalid = ('<?xml version="1.0"?>\n<Bundle %s>\n<type value="x"/>\n'
               '<entry><resource><Practitioner><id value="x"/>\n'
               '</Organization></resource></entry>\n</Bundle>\n' % ns)
    refused.append(("FHIR invalid XML", write(path(gw, "invalid.xml"), None,
                                              raw=invalid.encode()), "5"))
    refused.append(("FHIR cut", write(path(gw, "cut.xml"), None,
                                      raw=invalid.encode()[:60]), r"\d+"))
    refused.append(("JSON records, cut", write(path(gw, "cut.json"), None,
                                               raw=b'[{"key": "local:a@b.test'
                                               b'", "family": "A"},\n'
                                               b'{"key": '), "2"))
    for name, p, line in refused:
        for extra in ([], ["--strict"]):
            o = cli(gw, "dir", "import", p, *extra)
            if line is None:
                # the skipped lines first, then why the file is refused
                pat = (r"^(mssgate: %s:\d+: \S.*\n)*mssgate: %s(:\d+)?: "
                       r"\S.*; nothing imported\n$" % (re.escape(p),
                                                       re.escape(p)))
            else:
                pat = r"^mssgate: %s:%s: \S.*; nothing imported\n$" % (
                    re.escape(p), line)
            t.ok(o.rc == EX_DATAERR and o.out == "" and
                 re.match(pat, o.err) is not None,
                 "%s%s: exit 65, 'FILE:LINE: reason; nothing imported'"
                 % (name, " --strict" if extra else ""), o)
    o = cli(gw, "dir", "import", "--format", "ps", path(gw, "base.txt"))
    t.ok(o.rc == EX_DATAERR and re.match(r"^mssgate: %s:1: " % re.escape(
        path(gw, "base.txt")), o.err), "an MSS extract read as --format ps:"
         " exit 65, line 1", o)
    missing = path(gw, "missing.txt")
    o = cli(gw, "dir", "import", missing)
    t.ok(o.rc == EX_NOINPUT and o.err == "mssgate: %s: cannot open: No "
         "such file or directory; nothing imported\n" % missing,
         "a missing file: exit 66", o)
    o = cli(gw, "dir", "import", gw.files)
    t.ok(o.rc == EX_DATAERR and o.err == "mssgate: %s: not a regular file;"
         " nothing imported\n" % gw.files, "a folder: exit 65", o)
    same(snapshot(gw), before, "after every refused file: the directory "
         "exactly as it was")


def gen(d, name, *args):
    """Run the generator: (path, expected counts, its stderr lines)."""
    out = os.path.join(d, name + ".txt")
    exp = os.path.join(d, name + ".json")
    p = subprocess.run([GEN, "--format", "mss", "-n", str(GEN_N), "--seed",
                        "7", "-o", out, "--expect", exp] + list(args),
                       capture_output=True, timeout=TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError("gen-directory %s: %s" % (
            " ".join(args), p.stderr.decode("utf-8", "replace")))
    with open(exp) as fh:
        want = json.load(fh)
    return out, want, p.stderr.decode().splitlines()


GEN_N = 5000


def import_json(gw, *args):
    o = cli(gw, "--json", "dir", "import", *args)
    return o, (json.loads(o.out) if o.rc == 0 else {})


def test_generated():
    """The generator's bigger extracts on a gateway of their own: the
    counts it expects, and the lines it made bad."""
    if not os.path.exists(GEN):
        skip("generated extracts", "tests/fixtures/gen-directory missing")
        return
    gw = Gateway(name="dirgen")
    gw.start()
    gw.stop()
    d = tempfile.mkdtemp(prefix="dir-gen-", dir=gw.tmp)
    base, want, _ = gen(d, "base")
    chg, want_chg, _ = gen(d, "changed", "--change", "1", "--remove", "0.5")
    bad, want_bad, bad_lines = gen(d, "bad", "--bad",
                                   "missing-columns=3,latin1=2,"
                                   "too-long-field=1,bad-address=1,"
                                   "empty-address=1")
    cut, _, cut_lines = gen(d, "cut", "--truncate")

    def pick(j):
        return {k: j.get(k) for k in COUNT_KEYS + ("bad",)}

    o, j = import_json(gw, base)
    t.eq(pick(j), pick(want), "first import of %d generated lines: the "
         "counts of --expect" % GEN_N)
    t.eq(stats(gw)["records"], want["records"], "stats: its records")
    o, j = import_json(gw, chg)
    t.eq(pick(j), pick(want_chg), "the next day's file (--change 1 "
         "--remove 0.5): the counts of --expect")
    t.eq(stats(gw)["records"], want_chg["records"], "stats: its records")
    o, j = import_json(gw, chg)
    t.eq(pick(j), {"added": 0, "changed": 0, "removed": 0,
                   "unchanged": want_chg["records"],
                   "merged": want_chg["merged"], "bad": 0},
         "its re-import: all unchanged")
    o, j = import_json(gw, base)
    t.ok(o.rc == 0 and j["added"] == want_chg["removed"] and
         j["removed"] == 0, "back to the first file", o)

    o, j = import_json(gw, bad)
    got = [x.split(": ")[1] for x in o.err.splitlines()]
    exp_lines = [x.split(": ")[0] for x in bad_lines]
    t.ok(o.rc == 0 and j["bad"] == want_bad["bad"] and
         j["unchanged"] == want["records"] and j["added"] == 0 and
         j["removed"] == 0 and j["changed"] == 0 and got == exp_lines,
         "%d bad lines: each skipped and reported as 'FILE:LINE: "
         "reason' at the generator's lines, the rest unchanged" %
         want_bad["bad"], "%s\nwant lines: %s" % (o, exp_lines))
    before = stats(gw)
    o, j = import_json(gw, "--strict", bad)
    t.ok(o.rc == EX_DATAERR and o.out == "" and
         o.err.startswith("mssgate: %s: " % exp_lines[0]) and
         o.err.endswith("; nothing imported\n"),
         "--strict: exit 65 at the first bad line (%s)" % exp_lines[0], o)
    o, j = import_json(gw, cut)
    t.ok(o.rc == EX_DATAERR and o.out == "" and
         o.err.startswith("mssgate: %s: " % cut_lines[0].split(": ")[0]),
         "a truncated file: exit 65 at its cut line (%s)" %
         cut_lines[0].split(": ")[0], o)
    after = stats(gw)
    t.eq(after, before, "after the refused files: the stats as before")
    gw.cleanup()


# What the fixture files of tests/fixtures/directory must give: "good"
# imports without a bad line, "bad" has bad entries (skipped and
# reported; --strict refuses the file), anything else is refused whole.
FIXTURE_KIND = {
    "ans/mss.txt": "good", "ans/mss-variant.txt": "good",
    "ans/ps52.txt": "good", "ans/ps56.txt": "good",
    "fhir/bundle.xml": "good", "json/records.json": "good",
    "json/records.jsonl": "good", "json/full.json": "good",
    "ans/mss-bad.txt": "bad", "ans/ps-bad.txt": "bad",
    "fhir/bad-entries.xml": "bad", "json/bad-records.jsonl": "bad",
    "json/duplicate.json": "refused", "json/truncated.json": "refused",
}


def test_fixtures():
    """The small files of tests/fixtures/directory, each on the
    directory the previous ones left: good ones import, bad entries are
    skipped with 'FILE:LINE: reason' (and refuse the file with
    --strict), hostile or broken files are refused with exit 65 and
    change nothing."""
    names = []
    for sub in ("ans", "fhir", "json"):
        dd = os.path.join(FIX, sub)
        if os.path.isdir(dd):
            names += [sub + "/" + n for n in sorted(os.listdir(dd))
                      if not n.endswith((".expect", ".md"))]
    if not names:
        skip("fixture files", "tests/fixtures/directory is empty")
        return
    gw = Gateway(name="dirfix")
    gw.start()
    gw.stop()
    for n in names:
        p = os.path.join(FIX, n)
        kind = FIXTURE_KIND.get(n)
        if kind is None:
            # a file added since: it must load or be refused cleanly
            kind = "any"
        before = stats(gw)
        line_re = r"^mssgate: %s(:\d+)?: \S.*" % re.escape(p)
        if kind in ("refused", "bad"):
            o = cli(gw, "dir", "import", "--strict", p)
            t.ok(o.rc == EX_DATAERR and o.out == "" and
                 re.match(line_re + r"; nothing imported\n$", o.err) and
                 stats(gw) == before,
                 "fixture %s --strict: exit 65, one line 'FILE:LINE: "
                 "reason', nothing changed" % n, o)
        if kind == "refused":
            o = cli(gw, "dir", "import", p)
            t.ok(o.rc == EX_DATAERR and o.out == "" and
                 re.match(line_re + r"; nothing imported\n$", o.err) and
                 stats(gw) == before,
                 "fixture %s: exit 65, one line 'FILE:LINE: reason', "
                 "nothing changed" % n, o)
            continue
        o = cli(gw, "--json", "dir", "import", p)
        j = json.loads(o.out) if o.rc == 0 else {}
        errs = o.err.splitlines()
        if kind == "any":
            t.ok((o.rc == 0 and len(errs) == j["bad"]) or
                 (o.rc == EX_DATAERR and o.out == "" and
                  re.match(line_re + r"; nothing imported$", errs[-1]) and
                  stats(gw) == before),
                 "fixture %s: imported, or refused with exit 65 and "
                 "'FILE:LINE: reason', nothing changed" % n, o)
        elif kind == "good":
            t.ok(o.rc == 0 and o.err == "" and j["bad"] == 0 and
                 j["added"] + j["changed"] + j["unchanged"] > 0,
                 "fixture %s: imported (%s)" % (
                     n, ", ".join("%s %s" % (k, j[k]) for k in COUNT_KEYS
                                  if j.get(k))), o)
        else:
            t.ok(o.rc == 0 and j["bad"] > 0 and len(errs) == j["bad"] and
                 all(re.match(r"^mssgate: %s:\d+: \S" % re.escape(p), x)
                     for x in errs),
                 "fixture %s: %d bad entries skipped, each reported as "
                 "'FILE:LINE: reason'" % (n, j.get("bad", 0)), o)
    gw.cleanup()


def test_live():
    """The same commands while the daemon runs."""
    gw = gateway()
    gw.start()
    try:
        changed = write(path(gw, "changed-live.txt"),
                        [header()] + changed_rows())
        o = cli(gw, "dir", "import", changed)
        c = counts(o)
        t.ok(c is not None and c["added"] == 1 and c["removed"] == 1,
             "daemon running: import of the changed extract", o)
        t.eq(keys(search(gw, "--address", I)), ["mss:" + I],
             "daemon running: the new record found")
        o = cli(gw, "dir", "set", "-", input=json.dumps({
            "key": "mss:" + I, "channels": ["mail"]}).encode())
        t.ok(o.rc == 0 and "updated" in o.out, "daemon running: set", o)
    finally:
        gw.stop()


run_tests(t, test_usage, test_import, test_search, test_show_resolve,
          test_set_del, test_bad_input, test_generated, test_fixtures,
          test_live)
