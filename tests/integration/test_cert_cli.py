# SPDX-License-Identifier: MIT
"""`mssgate cert` against a private gateway, with every key and
certificate made in the test's temporary folder (by the command itself,
or by the openssl command for what it cannot make: back-dated and
future certificates, another operator's CA and its CRL).

Checked: the usage (64); `ca init` creates the development CA, keeps it
the second time, refuses a production configuration (tls_dev_ca = no)
unless --force; `issue` of each kind: files, key mode 0600, key never
printed, an encrypted key only opening with its passphrase, and
`openssl x509 -text` and `openssl verify -purpose` agreeing with what
we meant (extended key usage, key usage, SANs, the RPPS in the
subject); refused requests; `list` and `show` (plain and --json: one
object per line) with their statuses valid, expiring, expired,
untrusted and revoked, and where each certificate is used; `verify`
with its exact reason for an expired, a not-yet-valid, an untrusted,
a revoked certificate, extended key usage and key usage not fitting
the purpose, and a key that is not the certificate's; `export` to
PKCS#12 read back by openssl, `import` of PKCS#12 (also openssl's
legacy RC2 one), PEM with --key, DER and PKCS#7, with an S/MIME
binding; bad input (a corrupted PEM, a PKCS#12 with the wrong password,
a truncated PEM, a 10 MB garbage file, a CRL given as a certificate):
exit 65, one line naming the file, and neither the registry nor the
certificates folder changed; `revoke`, `crl` (read by openssl) and `crl
import` of another operator's CRL, a CRL from an unknown issuer
refused; `trust add|list|remove` with its hash links (`openssl verify
-CApath` uses them); `del`. Then, the daemon running: `cert reload`
after a new server certificate was written over tls_cert_file: a new
`openssl s_client` session sees the new serial, a session opened before
keeps working; a certificate that does not match its key is refused by
`cert reload` before any signal; with no daemon, `cert reload` says so.
"""

import json
import os
import re
import socket
import ssl
import subprocess
import time

from mssgate_test import MSSGATE, Gateway, Tap, run_tests

t = Tap()

EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_CANTCREAT = 73
EX_CONFIG = 78
TIMEOUT = 60
CA_DN = "CN=mssgate development CA,O=mssgate development,C=FR"


class Out:
    def __init__(self, args, p):
        self.args = args
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")

    def __str__(self):
        return "$ mssgate %s\nexit %s\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.args), self.rc, self.out[-3000:], self.err[-2000:])

    def json(self):
        return [json.loads(line) for line in self.out.splitlines()]


def cli(gw, *args, stdin=b""):
    p = subprocess.run([MSSGATE, "-c", gw.conf] + list(args), input=stdin,
                       capture_output=True, timeout=TIMEOUT)
    return Out(list(args), p)


def openssl(*args, check=True, stdin=None):
    p = subprocess.run(["openssl"] + list(args), capture_output=True,
                       timeout=TIMEOUT, input=stdin)
    if check and p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (
            " ".join(args), p.stderr.decode("utf-8", "replace")))
    return p


GW = []


def gateway():
    """One gateway (not running) whose CA the first test makes."""
    if not GW:
        gw = Gateway(name="cert")
        gw.pid_file = os.path.join(gw.tmp, "mssgated.pid")
        gw.extra["pid_file"] = gw.pid_file
        gw.write_config()
        gw.work = os.path.join(gw.tmp, "work")
        os.makedirs(gw.work)
        GW.append(gw)
    return GW[0]


def w(gw, name):
    return os.path.join(gw.work, name)


def cpath(gw, name):
    return os.path.join(gw.certs, name)


def records(gw):
    o = cli(gw, "--json", "cert", "list")
    if o.rc != 0:
        raise RuntimeError(str(o))
    return {r["name"]: r for r in o.json()}


def snapshot(gw):
    """The registry and every file of the certificates folder."""
    files = {}
    for root, dirs, names in os.walk(gw.certs):
        for n in names + dirs:
            p = os.path.join(root, n)
            st = os.lstat(p)
            files[os.path.relpath(p, gw.certs)] = (st.st_size,
                                                    st.st_mtime_ns)
    reg = cli(gw, "--json", "cert", "list").out
    trust = cli(gw, "--json", "cert", "trust", "list").out
    return files, reg, trust


def diff_snap(a, b):
    out = []
    for k in sorted(set(a[0]) | set(b[0])):
        if a[0].get(k) != b[0].get(k):
            out.append("file %s: %s -> %s" % (k, a[0].get(k), b[0].get(k)))
    for i, what in ((1, "list"), (2, "trust list")):
        if a[i] != b[i]:
            out.append("%s before:\n%s\n%s after:\n%s" % (what, a[i], what,
                                                          b[i]))
    return "\n".join(out)


def x509_text(crt):
    return openssl("x509", "-in", crt, "-noout", "-text").stdout.decode()


def serial_of(crt, inform="PEM"):
    p = openssl("x509", "-in", crt, "-inform", inform, "-noout", "-serial")
    return p.stdout.decode().strip().split("=", 1)[1]


# --- certificates made with the openssl command -------------------------


def ca_config(gw, name, ca_crt, ca_key):
    """What `openssl ca` needs to sign with (and revoke for) a CA."""
    d = w(gw, name + "-db")
    os.makedirs(d, exist_ok=True)
    for f, text in (("index.txt", ""), ("serial", "1000\n"),
                    ("crlnumber", "01\n")):
        with open(os.path.join(d, f), "w") as fp:
            fp.write(text)
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as fp:
        fp.write("[ca]\ndefault_ca = this\n[this]\ndatabase = %s/index.txt"
                 "\nnew_certs_dir = %s\nserial = %s/serial\ncrlnumber = "
                 "%s/crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n"
                 "policy = any\ncopy_extensions = none\nunique_subject = no"
                 "\ncertificate = %s\nprivate_key = %s\n[any]\n"
                 "commonName = supplied\norganizationName = optional\n"
                 "countryName = optional\n" % (d, d, d, d, ca_crt, ca_key))
    return cnf


def openssl_leaf(gw, cnf, name, cn, start=None, end=None,
                 ku="digitalSignature, keyEncipherment",
                 eku="serverAuth", san=None):
    key, csr, crt = w(gw, name + ".key"), w(gw, name + ".csr"), \
        w(gw, name + ".crt")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/C=FR/O=cert cli test/CN=%s" % cn)
    ext = w(gw, name + ".ext")
    with open(ext, "w") as fp:
        fp.write("[leaf]\nbasicConstraints = critical, CA:FALSE\n"
                 "keyUsage = critical, %s\nextendedKeyUsage = %s\n"
                 "subjectAltName = %s\n" % (ku, eku, san or "DNS:" + cn))
    args = ["ca", "-batch", "-notext", "-config", cnf, "-in", csr,
            "-out", crt, "-extfile", ext, "-extensions", "leaf",
            "-preserveDN"]
    if start:
        args += ["-startdate", start, "-enddate", end]
    else:
        args += ["-days", "30"]
    openssl(*args)
    return crt, key


def foreign_ca(gw):
    """Another operator's CA (not trusted by the gateway)."""
    key, crt = w(gw, "fca.key"), w(gw, "fca.crt")
    if not os.path.exists(crt):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-out", crt, "-days", "30", "-subj",
                "/C=FR/O=Autre Operateur/CN=AC TEST AUTRE OPERATEUR",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key, ca_config(gw, "fca", crt, key)


# --- tests -------------------------------------------------------------


def test_usage():
    gw = gateway()
    o = cli(gw, "help")
    for cmd in ("cert ca init [--force]", "cert list | show NAME | del NAME",
                "cert crl import FILE", "cert reload"):
        t.ok(o.rc == 0 and re.search(r"^\s+%s$" % re.escape(cmd), o.out,
                                     re.M), "help lists '%s'" % cmd, o)
    for args in ([], ["bogus"], ["ca"], ["ca", "init", "--bogus"],
                 ["issue"], ["issue", "server"], ["issue", "server", "a",
                                                   "extra"],
                 ["import", "a"], ["export", "a"], ["show"],
                 ["list", "x"], ["verify"], ["revoke"], ["crl", "import"],
                 ["crl", "--bogus"], ["trust"], ["trust", "add"],
                 ["trust", "bogus", "x"], ["reload", "x"], ["del"]):
        o = cli(gw, "cert", *args)
        t.ok(o.rc == EX_USAGE and o.out == "" and
             "usage: mssgate cert ca init [--force]" in o.err,
             "cert %s: exit 64 with the usage" % " ".join(args), o)
    o = cli(gw, "cert", "issue", "desktop", "a")
    t.ok(o.rc == EX_USAGE and "'desktop': the kinds are server, client, "
         "smime and operator" in o.err, "issue of an unknown kind: 64", o)


def test_ca_init():
    gw = gateway()
    o = cli(gw, "cert", "ca", "init")
    t.ok(o.rc == 0 and o.out == "created the development CA in %s: ca.crt, "
         "ca.key (mode 0600)\n" % gw.certs, "ca init: created", o)
    t.eq(os.stat(cpath(gw, "ca.key")).st_mode & 0o777, 0o600,
         "ca.key is mode 0600")
    before = open(cpath(gw, "ca.crt"), "rb").read()
    o = cli(gw, "cert", "ca", "init")
    t.ok(o.rc == 0 and "already exists in %s (ca.crt, ca.key): kept" %
         gw.certs in o.out, "ca init again: kept", o)
    t.ok(open(cpath(gw, "ca.crt"), "rb").read() == before,
         "ca.crt unchanged by the second ca init")
    o = cli(gw, "--json", "cert", "ca", "init")
    t.ok(o.rc == 0 and o.json() == [{"name": "devca", "certs_dir": gw.certs,
                                     "cert": "ca.crt", "created": False}],
         "ca init --json", o)
    text = x509_text(cpath(gw, "ca.crt"))
    t.ok("CA:TRUE" in text and "Certificate Sign, CRL Sign" in text,
         "openssl: the CA is CA:TRUE with keyCertSign and cRLSign", text)
    r = records(gw)
    t.ok("devca" in r and r["devca"]["kind"] == "ca" and
         r["devca"]["status"] == "valid" and
         "tls_ca_file" in r["devca"]["used_by"],
         "list: the CA registered as devca, valid, used as tls_ca_file", r)

    # production: refused, unless forced
    prod = Gateway(name="prod", extra={"tls_dev_ca": "no"})
    o = cli(prod, "cert", "ca", "init")
    t.ok(o.rc == EX_CONFIG and o.err == "mssgate: %s says production "
         "(tls_dev_ca = no): no development CA there (--force to make one "
         "anyway)\n" % prod.conf and not os.path.exists(
             os.path.join(prod.certs, "ca.key")),
         "ca init with tls_dev_ca = no: refused (78), nothing made", o)
    o = cli(prod, "cert", "ca", "init", "--force")
    t.ok(o.rc == 0 and os.path.exists(os.path.join(prod.certs, "ca.key")),
         "ca init --force in production: made", o)
    prod.cleanup()


def test_issue():
    gw = gateway()
    o = cli(gw, "cert", "issue", "server", "srv", "--dns", "localhost",
            "--dns", "mx.mssante.test")
    t.ok(o.rc == 0 and "issued server certificate 'srv'" in o.out and
         "PRIVATE KEY" not in o.out + o.err, "issue server: no key printed",
         o)
    text = x509_text(cpath(gw, "srv.crt"))
    t.ok("TLS Web Server Authentication" in text and
         "TLS Web Client" not in text and
         "Digital Signature, Key Encipherment" in text and
         "DNS:localhost, DNS:mx.mssante.test" in text and
         "CA:FALSE" in text and "Subject: C = FR, O = mssgate development, "
         "CN = localhost" in text,
         "openssl x509 -text: serverAuth only, digitalSignature + "
         "keyEncipherment, the DNS names", text)
    ca = cpath(gw, "ca.crt")
    for purpose, ok in (("sslserver", True), ("sslclient", False),
                        ("smimesign", False)):
        p = openssl("verify", "-CAfile", ca, "-purpose", purpose,
                    cpath(gw, "srv.crt"), check=False)
        t.eq(p.returncode == 0, ok, "openssl verify -purpose %s of the "
             "server certificate: %s" % (purpose, "OK" if ok else "refused"))
    st = os.stat(cpath(gw, "srv.key"))
    t.eq(st.st_mode & 0o777, 0o600, "the key is mode 0600")

    o = cli(gw, "--json", "cert", "issue", "smime", "alertes", "--email",
            "Alertes@MSSante.test", "--rpps", "10003456789", "--key", "p256")
    j = o.json()[0] if o.rc == 0 else {}
    t.ok(o.rc == 0 and j.get("kind") == "smime" and
         j.get("smime_address") == "alertes@mssante.test" and
         j.get("key_type") == "EC P-256" and
         j.get("sans") == ["email:Alertes@MSSante.test"] and
         j.get("used_by") == ["smime:alertes@mssante.test"] and
         re.match(r"^[0-9A-F]{16}$", j.get("serial", "")),
         "issue smime --json: the record, bound to the address", o)
    text = x509_text(cpath(gw, "alertes.crt"))
    t.ok("E-mail Protection" in text and "Digital Signature, Non "
         "Repudiation" in text and "Key Encipherment" not in text and
         "email:Alertes@MSSante.test" in text and
         "serialNumber = 810003456789" in text and
         "ASN1 OID: prime256v1" in text,
         "openssl x509 -text: emailProtection, digitalSignature + "
         "nonRepudiation (EC), the e-mail SAN, IdNat in serialNumber", text)
    t.eq(serial_of(cpath(gw, "alertes.crt")), j.get("serial"),
         "the serial the CLI printed is the certificate's")
    p = openssl("verify", "-CAfile", ca, "-purpose", "smimesign",
                cpath(gw, "alertes.crt"), check=False)
    t.eq(p.returncode, 0, "openssl verify -purpose smimesign: OK")

    o = cli(gw, "cert", "issue", "client", "appli", "--cn",
            "Application de biologie", "--passphrase-stdin",
            stdin=b"a long passphrase\n")
    t.ok(o.rc == 0 and "(RSA 2048, mode 0600, encrypted)" in o.out,
         "issue client --passphrase-stdin", o)
    key = open(cpath(gw, "appli.key")).read()
    t.ok("BEGIN ENCRYPTED PRIVATE KEY" in key, "the key file is "
         "encrypted PKCS#8")
    p = openssl("pkey", "-in", cpath(gw, "appli.key"), "-noout", "-passin",
                "pass:wrong", check=False)
    t.ok(p.returncode != 0, "openssl cannot open it with a wrong passphrase")
    p = openssl("pkey", "-in", cpath(gw, "appli.key"), "-noout", "-passin",
                "pass:a long passphrase", check=False)
    t.eq(p.returncode, 0, "openssl opens it with the passphrase")
    text = x509_text(cpath(gw, "appli.crt"))
    t.ok("TLS Web Client Authentication" in text and
         "Server Authentication" not in text, "client: clientAuth only",
         text)

    o = cli(gw, "cert", "issue", "operator", "op", "--dns", "mssante.test",
            "--key", "rsa3072", "--days", "10")
    text = x509_text(cpath(gw, "op.crt"))
    t.ok(o.rc == 0 and "TLS Web Server Authentication, TLS Web Client "
         "Authentication" in text and "Public-Key: (3072 bit)" in text,
         "operator: serverAuth and clientAuth, RSA 3072", o)
    for purpose in ("sslserver", "sslclient"):
        p = openssl("verify", "-CAfile", ca, "-purpose", purpose,
                    cpath(gw, "op.crt"), check=False)
        t.eq(p.returncode, 0, "openssl verify -purpose %s of the operator "
             "certificate: OK" % purpose)

    for args, rc, msg in (
            (["smime", "x1"], EX_DATAERR, "an smime certificate needs the "
             "address it signs for: --email ADDR"),
            (["server", "x1"], EX_DATAERR, "a server certificate needs a "
             "host name: --dns NAME"),
            (["smime", "x1", "--email", "a@b.test", "--rpps", "123"],
             EX_DATAERR, "--rpps '123': an RPPS number is 11 digits"),
            (["server", "x1", "--dns", "a.test", "--key", "dsa"], EX_DATAERR,
             "--key 'dsa': rsa2048, rsa3072 or p256"),
            (["server", "x1", "--dns", "a.test", "--days", "0"], EX_DATAERR,
             "--days '0': 1 to 3650"),
            (["server", "X1", "--dns", "a.test"], EX_DATAERR,
             "'X1': not a certificate name (1 to 64 of a-z 0-9 . _ -)"),
            (["server", "srv", "--dns", "a.test"], EX_CANTCREAT,
             "srv: a certificate of that name is already in the registry"),
            (["server", "devca", "--dns", "a.test"], EX_DATAERR,
             "'devca': the development CA's name (ca init)"),
            (["client", "x1", "--cn", "x", "--passphrase-stdin"],
             EX_DATAERR, "passphrase too short (8 characters at least)")):
        o = cli(gw, "cert", "issue", *args, stdin=b"short\n")
        t.ok(o.rc == rc and o.err == "mssgate: %s\n" % msg and
             not os.path.exists(cpath(gw, "x1.key")),
             "issue %s: %d, %s" % (" ".join(args), rc, msg), o)


def test_list_show():
    gw = gateway()
    r = records(gw)
    t.ok({"srv", "alertes", "appli", "op", "devca"} <= set(r),
         "list --json: every issued certificate", sorted(r))
    s = r.get("srv", {})
    t.ok(set(s) >= {"name", "kind", "subject", "issuer", "serial", "sans",
                    "key_usage", "not_after", "days_left", "used_by",
                    "status", "cert_file", "key_file"} and
         s["issuer"] == CA_DN and s["status"] == "valid" and
         s["days_left"] in (364, 365) and s["sans"] == [
             "DNS:localhost", "DNS:mx.mssante.test"] and
         s["key_usage"] == "digitalSignature, keyEncipherment; serverAuth"
         and s["used_by"] == [], "srv: every field, valid, unused", s)
    t.ok(r.get("op", {}).get("status") == "expiring" and
         r["op"]["days_left"] in (9, 10), "a 10-day certificate: expiring",
         r.get("op"))
    o = cli(gw, "cert", "list")
    lines = o.out.splitlines()
    t.ok(o.rc == 0 and lines[0].split() == ["NAME", "KIND", "STATUS",
                                            "NOT-AFTER", "DAYS", "USED-BY"]
         and any(re.match(r"^alertes +smime +valid +\d{4}-\d\d-\d\d +36[45] "
                          r"+smime:alertes@mssante\.test$", ln)
                 for ln in lines),
         "list: the table, alertes bound to its address", o)
    o = cli(gw, "cert", "show", "alertes")
    t.ok(o.rc == 0 and re.search(r"^signs for +alertes@mssante\.test$",
                                 o.out, re.M) and
         re.search(r"^sha-256 +([0-9A-F]{2}:){31}[0-9A-F]{2}$", o.out, re.M)
         and "BEGIN" not in o.out, "show: all fields, no PEM", o)
    o = cli(gw, "--json", "cert", "show", "alertes")
    t.ok(o.rc == 0 and len(o.json()) == 1 and
         o.json()[0]["name"] == "alertes", "show --json: one object", o)
    o = cli(gw, "cert", "show", "nothing")
    t.ok(o.rc == EX_NOUSER and o.err == "mssgate: nothing: no certificate "
         "of that name in the registry\n", "show of an unknown name: 67", o)


def reason_of(gw, f, *extra):
    o = cli(gw, "cert", "verify", f, *extra)
    return o, o.err[len("mssgate: %s: " % f):].rstrip("\n") \
        if o.err.startswith("mssgate: %s: " % f) else o.err


def test_verify():
    gw = gateway()
    cnf = ca_config(gw, "devca", cpath(gw, "ca.crt"), cpath(gw, "ca.key"))
    old, _ = openssl_leaf(gw, cnf, "old", "old.mssante.test",
                          "20250101000000Z", "20250601000000Z")
    future, _ = openssl_leaf(gw, cnf, "future", "future.mssante.test",
                             "20990101000000Z", "20991231000000Z")
    nonrep, _ = openssl_leaf(gw, cnf, "nonrep", "nonrep.mssante.test",
                             ku="nonRepudiation")
    fcrt, fkey, fcnf = foreign_ca(gw)
    other, _ = openssl_leaf(gw, fcnf, "other", "mx.autre.test")
    mism = w(gw, "mismatch.pem")
    with open(mism, "w") as fp:
        fp.write(open(cpath(gw, "srv.crt")).read() +
                 open(cpath(gw, "alertes.key")).read())
    good = w(gw, "good.pem")
    with open(good, "w") as fp:
        fp.write(open(cpath(gw, "srv.crt")).read() +
                 open(cpath(gw, "srv.key")).read())
    cases = [
        (old, ["--purpose", "tls-server"],
         "certificate expired on 2025-06-01 00:00:00 UTC"),
        (future, [], "certificate is not yet valid: valid from 2099-01-01 "
         "00:00:00 UTC"),
        (other, ["--purpose", "tls-server"],
         "untrusted CA: unable to get the issuer certificate 'CN=AC TEST "
         "AUTRE OPERATEUR,O=Autre Operateur,C=FR': not in the trust store"),
        (fcrt, [], "untrusted: self-signed certificate 'CN=AC TEST AUTRE "
         "OPERATEUR,O=Autre Operateur,C=FR' is not in the trust store"),
        (cpath(gw, "appli.crt"), ["--purpose", "tls-server"],
         "extended key usage (clientAuth) does not allow tls-server: it "
         "lacks serverAuth"),
        (cpath(gw, "srv.crt"), ["--purpose", "smime"],
         "extended key usage (serverAuth) does not allow smime: it lacks "
         "emailProtection"),
        (nonrep, ["--purpose", "tls-server"],
         "key usage (nonRepudiation) does not allow tls-server: it needs "
         "digitalSignature or keyEncipherment"),
        (mism, ["--purpose", "tls-server"],
         "the private key does not match the certificate "
         "(key/certificate mismatch)"),
    ]
    for f, extra, want in cases:
        o, why = reason_of(gw, f, *extra)
        t.ok(o.rc == EX_DATAERR and o.out == "" and why == want and
             o.err.count("\n") == 1, "verify %s %s: 65, '%s'" % (
                 os.path.basename(f), " ".join(extra), want), o)
    # openssl agrees on the refusals
    p = openssl("verify", "-CAfile", cpath(gw, "ca.crt"), old, check=False)
    t.ok(p.returncode != 0 and b"certificate has expired" in p.stdout +
         p.stderr, "openssl verify: the old one has expired too")
    p = openssl("verify", "-CAfile", cpath(gw, "ca.crt"), other,
                check=False)
    t.ok(p.returncode != 0 and b"unable to get local issuer" in p.stdout +
         p.stderr, "openssl verify: the other operator's is untrusted too")
    for f, extra, want in (
            (good, ["--purpose", "tls-server"], "OK (tls-server)"),
            (cpath(gw, "alertes.crt"), ["--purpose", "smime"],
             "OK (smime)"),
            (cpath(gw, "op.crt"), ["--purpose", "tls-client"],
             "OK (tls-client)"),
            (cpath(gw, "srv.crt"), [], "OK (chain only)")):
        o = cli(gw, "cert", "verify", f, *extra)
        t.ok(o.rc == 0 and o.out == "%s: %s\n" % (f, want),
             "verify %s %s: %s" % (os.path.basename(f), " ".join(extra),
                                   want), o)
    o = cli(gw, "--json", "cert", "verify", old)
    t.ok(o.rc == EX_DATAERR and o.json()[0]["ok"] is False and
         o.json()[0]["reason"].startswith("certificate expired on"),
         "verify --json: ok false and the reason", o)

    # in the registry: expired, untrusted (imported: nothing is checked
    # but that the key matches)
    o = cli(gw, "cert", "import", "old", old, "--key", w(gw, "old.key"))
    t.eq(o.rc, 0, "import of an expired certificate with its key")
    o = cli(gw, "cert", "import", "other", other)
    t.eq(o.rc, 0, "import of the other operator's certificate alone")
    r = records(gw)
    t.ok(r["old"]["status"] == "expired" and r["old"]["days_left"] < 0 and
         r["old"]["kind"] == "imported", "list: old is expired", r["old"])
    t.ok(r["other"]["status"] == "untrusted" and "unable to get the issuer "
         "certificate" in r["other"]["reason"] and r["other"]["key_file"] ==
         "", "list: other is untrusted, with the reason", r["other"])


def test_revoke_crl():
    gw = gateway()
    o = cli(gw, "cert", "issue", "client", "lost", "--cn", "lost laptop",
            "--key", "p256")
    t.eq(o.rc, 0, "issue client lost")
    serial = serial_of(cpath(gw, "lost.crt"))
    o = cli(gw, "cert", "revoke", "lost", "--reason", "keyCompromise")
    m = re.match(r"revoked %s \(lost\) on (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                 r"UTC), reason keyCompromise\nwrote %s: CRL number \d+, 1 "
                 r"revoked, next update .*\n$" % (serial, re.escape(
                     cpath(gw, "crl/devca.crl.pem"))), o.out)
    t.ok(o.rc == 0 and m, "revoke lost: revoked, CRL written", o)
    when = m.group(1) if m else "?"
    o, why = reason_of(gw, cpath(gw, "lost.crt"))
    t.ok(o.rc == EX_DATAERR and why == "certificate revoked on %s "
         "(keyCompromise) by the CRL of '%s'" % (when, CA_DN),
         "verify lost: revoked, with the date and the reason", o)
    r = records(gw)
    t.ok(r["lost"]["status"] == "revoked" and
         r["lost"]["revocation_reason"] == "keyCompromise",
         "list: lost is revoked", r["lost"])
    crl = cpath(gw, "crl/devca.crl.pem")
    text = openssl("crl", "-in", crl, "-noout", "-text").stdout.decode()
    t.ok("Serial Number: %s" % serial in text and "Key Compromise" in text
         and "X509v3 CRL Number" in text and "Issuer: C = FR, O = mssgate "
         "development, CN = mssgate development CA" in text,
         "openssl crl -text: our serial, keyCompromise, a CRL number", text)
    p = openssl("verify", "-crl_check", "-CAfile", cpath(gw, "ca.crt"),
                "-CRLfile", crl, cpath(gw, "lost.crt"), check=False)
    t.ok(p.returncode != 0 and b"certificate revoked" in p.stdout +
         p.stderr, "openssl verify -crl_check: revoked too")
    p = openssl("verify", "-crl_check", "-CAfile", cpath(gw, "ca.crt"),
                "-CRLfile", crl, cpath(gw, "srv.crt"), check=False)
    t.eq(p.returncode, 0, "openssl verify -crl_check: srv still fine")
    o = cli(gw, "cert", "revoke", serial)
    t.ok(o.rc == 0 and o.out.startswith("already revoked %s" % serial),
         "revoke by serial, again: already revoked", o)
    o = cli(gw, "cert", "revoke", "other")
    t.ok(o.rc == EX_NOUSER and "not issued by the development CA" in o.err,
         "revoke of a certificate the CA did not issue: 67", o)
    o = cli(gw, "cert", "revoke", "lost", "--reason", "tired")
    t.ok(o.rc == EX_DATAERR and "--reason 'tired'" in o.err,
         "revoke --reason of an unknown reason: 65", o)
    out = w(gw, "copy.crl")
    o = cli(gw, "--json", "cert", "crl", "--out", out)
    j = o.json()[0] if o.rc == 0 else {}
    t.ok(o.rc == 0 and j.get("revoked") == 1 and j.get("file") == out and
         abs(j.get("next_update", 0) - time.time() - 7 * 86400) < 300,
         "crl --out --json: one revoked, next update in 7 days", o)
    nu = openssl("crl", "-in", out, "-noout", "-nextupdate").stdout.decode()
    t.ok("nextUpdate=" in nu, "openssl reads the CRL written", nu)

    # another operator's CRL: refused while its CA is not trusted
    fcrt, fkey, fcnf = foreign_ca(gw)
    other = w(gw, "other.crt")
    openssl("ca", "-config", fcnf, "-revoke", other, "-crl_reason",
            "superseded")
    fcrl = w(gw, "fca.crl")
    openssl("ca", "-config", fcnf, "-gencrl", "-out", fcrl)
    before = snapshot(gw)
    o = cli(gw, "cert", "crl", "import", fcrl)
    t.ok(o.rc == EX_DATAERR and o.err == "mssgate: %s: the CRL's issuer "
         "'CN=AC TEST AUTRE OPERATEUR,O=Autre Operateur,C=FR' is not in the "
         "trust store; nothing imported\n" % fcrl,
         "crl import from an untrusted issuer: 65", o)
    after = snapshot(gw)
    t.ok(after == before, "nothing changed", diff_snap(before, after))


def test_trust():
    gw = gateway()
    fcrt, fkey, fcnf = foreign_ca(gw)
    other = w(gw, "other.crt")
    o = cli(gw, "cert", "trust", "add", other)
    t.ok(o.rc == EX_DATAERR and "'CN=mx.autre.test,O=cert cli test,C=FR' "
         "is not a CA certificate" in o.err, "trust add of a leaf: 65", o)
    o = cli(gw, "cert", "trust", "add", fcrt)
    m = re.match(r"added trust/ac-test-autre-operateur\.pem \(hash "
                 r"([0-9a-f]{8})\): CN=AC TEST AUTRE OPERATEUR", o.out)
    t.ok(o.rc == 0 and m, "trust add of the other operator's CA", o)
    h = m.group(1) if m else "?"
    want_h = openssl("x509", "-in", fcrt, "-noout", "-subject_hash") \
        .stdout.decode().strip()
    t.eq(h, want_h, "the hash is openssl's subject hash")
    t.eq(os.readlink(cpath(gw, "trust/%s.0" % h)),
         "ac-test-autre-operateur.pem", "trust/HASH.0 links to it")
    o = cli(gw, "cert", "trust", "add", fcrt)
    t.ok(o.rc == 0 and o.out.startswith("already trusted as trust/"),
         "trust add again: already trusted", o)
    p = openssl("verify", "-CApath", cpath(gw, "trust"), other, check=False)
    t.eq(p.returncode, 0, "openssl verify -CApath trust/: the other "
         "operator's certificate verifies")
    o = cli(gw, "--json", "cert", "trust", "list")
    ents = o.json() if o.rc == 0 else []
    t.ok(len(ents) == 2 and {e["hash"] for e in ents} >= {h} and
         any(e["source"] == "tls_ca_file:" + gw.ca for e in ents) and
         any(e["source"] == "trust/ac-test-autre-operateur.pem" and
             e["root"] is True for e in ents),
         "trust list --json: the dev CA (tls_ca_file) and the new one", o)
    o = cli(gw, "cert", "verify", other, "--purpose", "tls-server")
    t.ok(o.rc == 0, "verify: the other operator's certificate is now "
         "trusted", o)
    t.eq(records(gw)["other"]["status"], "expiring", "list: other is "
         "trusted now, and expiring (29 days left)")

    fcrl = w(gw, "fca.crl")
    o = cli(gw, "cert", "crl", "import", fcrl)
    t.ok(o.rc == 0 and "imported the CRL of 'CN=AC TEST AUTRE OPERATEUR,"
         "O=Autre Operateur,C=FR' (1 revoked" in o.out,
         "crl import of the other operator's CRL", o)
    o, why = reason_of(gw, other)
    t.ok(o.rc == EX_DATAERR and re.match(
        r"certificate revoked on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
        r"\(superseded\) by the CRL of 'CN=AC TEST AUTRE OPERATEUR,"
        r"O=Autre Operateur,C=FR'$", why),
        "verify: revoked by the imported CRL", o)
    t.eq(records(gw)["other"]["status"], "revoked", "list: other revoked")
    # an older CRL of the same CA is refused
    time.sleep(1.1)
    openssl("ca", "-config", fcnf, "-gencrl", "-out", w(gw, "fca2.crl"))
    o = cli(gw, "cert", "crl", "import", w(gw, "fca2.crl"))
    t.eq(o.rc, 0, "crl import of a newer CRL")
    o = cli(gw, "cert", "crl", "import", fcrl)
    t.ok(o.rc == EX_DATAERR and "older than the CRL already stored" in o.err,
         "crl import of the older one again: refused", o)

    o = cli(gw, "cert", "trust", "remove", "deadbeef")
    t.ok(o.rc == EX_NOUSER and "deadbeef: not in the trust folder" in o.err,
         "trust remove of an unknown hash: 67", o)
    o = cli(gw, "cert", "trust", "remove", h)
    t.ok(o.rc == 0 and o.out.startswith("removed 1 certificate (%s)" % h),
         "trust remove HASH", o)
    t.ok(not os.path.lexists(cpath(gw, "trust/%s.0" % h)),
         "the link went with it")
    o, why = reason_of(gw, other)
    t.ok(o.rc == EX_DATAERR and why.startswith("untrusted CA: "),
         "verify: untrusted again", o)


def test_import_export():
    gw = gateway()
    o = cli(gw, "cert", "export", "alertes", w(gw, "alertes.p12"))
    m = re.search(r"^password: (\S+)$", o.out, re.M)
    t.ok(o.rc == 0 and m, "export without --password-stdin: a generated "
         "password, shown once", o)
    t.eq(os.stat(w(gw, "alertes.p12")).st_mode & 0o777, 0o600,
         "the PKCS#12 file is mode 0600")
    pw = m.group(1) if m else "?"
    p = openssl("pkcs12", "-in", w(gw, "alertes.p12"), "-nokeys", "-info",
                "-passin", "pass:" + pw, check=False)
    text = p.stdout.decode() + p.stderr.decode()
    t.ok(p.returncode == 0 and "AES-256-CBC" in text and "MAC: sha256" in
         text and "CN = Alertes@MSSante.test" in text and
         "CN = mssgate development CA" in text,
         "openssl pkcs12 reads it: AES-256-CBC, SHA-256 MAC, leaf and CA",
         text)
    o = cli(gw, "cert", "export", "alertes", w(gw, "alertes.p12"))
    t.ok(o.rc == EX_CANTCREAT and "exists: not overwriting it" in o.err,
         "export over an existing file: 73", o)
    o = cli(gw, "cert", "export", "appli", w(gw, "appli.p12"))
    t.ok(o.rc == EX_DATAERR and "its key is encrypted" in o.err,
         "export of an encrypted key without --password-stdin: 65", o)
    o = cli(gw, "cert", "export", "appli", w(gw, "appli.p12"),
            "--password-stdin", stdin=b"p12-password\na long passphrase\n")
    t.ok(o.rc == 0 and "password:" not in o.out, "export appli with the "
         "PKCS#12 password and the key's passphrase on stdin", o)

    o = cli(gw, "cert", "import", "alertes2", w(gw, "alertes.p12"),
            "--password-stdin", "--email", "alertes@mssante.test",
            stdin=(pw + "\n").encode())
    t.ok(o.rc == 0 and o.out.startswith("read %s (PKCS#12, with its key)" %
                                        w(gw, "alertes.p12")),
         "import of the PKCS#12 file, bound to its address", o)
    r = records(gw)
    t.ok(r["alertes2"]["serial"] == r["alertes"]["serial"] and
         r["alertes2"]["used_by"] == ["smime:alertes@mssante.test"] and
         r["alertes2"]["kind"] == "imported",
         "the imported copy: same serial, bound", r["alertes2"])
    o = cli(gw, "cert", "import", "x2", w(gw, "alertes.p12"),
            "--password-stdin", "--email", "someone@mssante.test",
            stdin=(pw + "\n").encode())
    t.ok(o.rc == EX_DATAERR and "does not name someone@mssante.test" in
         o.err, "import --email of an address the certificate lacks: 65", o)

    # openssl's legacy PKCS#12 (RC2-40, 3DES, SHA-1 MAC)
    leg = w(gw, "legacy.p12")
    openssl("pkcs12", "-export", "-legacy", "-in", cpath(gw, "srv.crt"),
            "-inkey", cpath(gw, "srv.key"), "-out", leg, "-passout",
            "pass:legacy-pass")
    o = cli(gw, "cert", "import", "legacy", leg, "--password-stdin",
            stdin=b"legacy-pass\n")
    t.ok(o.rc == 0 and "(PKCS#12, with its key)" in o.out,
         "import of a legacy PKCS#12 file", o)
    # DER and PKCS#7
    der = w(gw, "srv.der")
    openssl("x509", "-in", cpath(gw, "srv.crt"), "-outform", "DER", "-out",
            der)
    o = cli(gw, "cert", "import", "srv-der", der)
    t.ok(o.rc == 0 and o.out.startswith("read %s (DER)" % der),
         "import of a DER certificate: detected as DER", o)
    p7 = w(gw, "chain.p7b")
    openssl("crl2pkcs7", "-nocrl", "-certfile", cpath(gw, "srv.crt"),
            "-certfile", cpath(gw, "ca.crt"), "-outform", "DER", "-out", p7)
    o = cli(gw, "cert", "import", "srv-p7", p7)
    t.ok(o.rc == 0 and o.out.startswith("read %s (PKCS#7)" % p7),
         "import of a PKCS#7 chain", o)
    # PEM with --key
    o = cli(gw, "cert", "import", "srv-pem", cpath(gw, "srv.crt"), "--key",
            cpath(gw, "srv.key"))
    t.ok(o.rc == 0 and open(cpath(gw, "srv-pem.key")).read() ==
         open(cpath(gw, "srv.key")).read(),
         "import PEM with --key: the key copied (mode 0600)", o)


def test_bad_input():
    gw = gateway()
    good = open(cpath(gw, "srv.crt")).read()
    lines = good.splitlines(True)
    corrupt = w(gw, "corrupt.pem")
    with open(corrupt, "w") as fp:
        fp.write("".join(lines[:3] + ["!!!! not base64 !!!!\n"] +
                         lines[4:]))
    trunc = w(gw, "trunc.pem")
    with open(trunc, "w") as fp:
        fp.write("".join(lines[:5]))
    garbage = w(gw, "garbage.bin")
    with open(garbage, "wb") as fp:
        fp.write(os.urandom(10 * 1024 * 1024))
    small = w(gw, "small.bin")
    with open(small, "wb") as fp:
        fp.write(b"\x01" + os.urandom(2000))
    crl = cpath(gw, "crl/devca.crl.pem")
    der = w(gw, "srv.der")
    with open(w(gw, "srv.pem.given"), "wb") as fp:
        fp.write(open(der, "rb").read())
    cases = [
        (["import", "bad", corrupt], "%s:1: corrupted PEM block "
         "'CERTIFICATE' (its base64 does not decode); nothing imported" %
         corrupt, b""),
        (["import", "bad", trunc], "%s:1: PEM block 'CERTIFICATE' has no END "
         "line (truncated?); nothing imported" % trunc, b""),
        (["import", "bad", w(gw, "alertes.p12"), "--password-stdin"],
         "%s: wrong password for the PKCS#12 file (MAC verification "
         "failed); nothing imported" % w(gw, "alertes.p12"), b"wrong\n"),
        (["import", "bad", w(gw, "alertes.p12")],
         "%s: the PKCS#12 file is protected by a password and none was "
         "given (give it with --password-stdin); nothing imported" %
         w(gw, "alertes.p12"), b""),
        (["import", "bad", garbage], "%s: 10485760 bytes, more than the "
         "1024 KiB a certificate file may have: not a certificate file; "
         "nothing imported" % garbage, b""),
        (["import", "bad", small], "%s: not a certificate file (neither PEM, "
         "DER nor PKCS#12); nothing imported" % small, b""),
        (["import", "bad", crl], "%s:1: a certificate revocation list, not "
         "a certificate; nothing imported" % crl, b""),
        (["import", "bad", cpath(gw, "srv.crt"), "--key", corrupt],
         "%s:1: corrupted PEM block 'CERTIFICATE' (its base64 does not "
         "decode); nothing imported" % corrupt, b""),
        (["import", "bad", cpath(gw, "srv.crt"), "--key",
          cpath(gw, "alertes.key")], "%s: the private key does not match "
         "the certificate (key/certificate mismatch); nothing imported" %
         cpath(gw, "alertes.key"), b""),
        (["trust", "add", garbage], "%s: 10485760 bytes, more than the 1024 "
         "KiB a certificate file may have: not a certificate file; nothing "
         "added" % garbage, b""),
        (["crl", "import", corrupt], "%s:1: a 'CERTIFICATE' block, not a "
         "CRL; nothing imported" % corrupt, b""),
        (["verify", corrupt], "%s:1: corrupted PEM block 'CERTIFICATE' (its "
         "base64 does not decode)" % corrupt, b""),
    ]
    before = snapshot(gw)
    for args, msg, stdin in cases:
        o = cli(gw, "cert", *args, stdin=stdin)
        t.ok(o.rc == EX_DATAERR and o.out == "" and
             o.err == "mssgate: %s\n" % msg,
             "cert %s: 65, one line naming the file" %
             " ".join(os.path.basename(a) for a in args), o)
    after = snapshot(gw)
    t.ok(after == before, "after every bad file: the registry and "
         "the certificates folder unchanged", diff_snap(before, after))
    # DER where PEM is expected: read as DER
    o = cli(gw, "cert", "verify", w(gw, "srv.pem.given"))
    t.ok(o.rc == 0, "a DER file named .pem: detected and verified", o)
    o = cli(gw, "cert", "import", "bad", w(gw, "missing.pem"))
    t.ok(o.rc == 66 and "cannot open: No such file or directory" in o.err,
         "import of a missing file: 66", o)
    os.unlink(garbage)


def test_del():
    gw = gateway()
    o = cli(gw, "cert", "issue", "client", "tmp1", "--cn", "t", "--key",
            "p256")
    t.eq(o.rc, 0, "issue tmp1")
    o = cli(gw, "cert", "del", "tmp1")
    t.ok(o.rc == 0 and o.out == "deleted tmp1 (2 files removed)\n" and
         not os.path.exists(cpath(gw, "tmp1.crt")) and
         "tmp1" not in records(gw), "del: record and files gone", o)
    o = cli(gw, "cert", "del", "devca")
    t.ok(o.rc == EX_DATAERR and "in use (the development CA)" in o.err,
         "del devca: refused", o)
    o = cli(gw, "cert", "del", "tmp1")
    t.eq(o.rc, EX_NOUSER, "del of an unknown name: 67")


def tls_serial(gw, port):
    """The serial of the certificate a new `openssl s_client` session
    gets, and whether it verified."""
    p = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-CAfile", gw.ca,
                        "-verify_return_error", "-servername", "localhost"],
                       input=b"", capture_output=True, timeout=TIMEOUT)
    out = p.stdout.decode("utf-8", "replace")
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                  out, re.S)
    if not m:
        return None, out
    s = openssl("x509", "-noout", "-serial", stdin=m.group(0).encode())
    return s.stdout.decode().strip().split("=", 1)[1], \
        "Verify return code: 0 (ok)" in out


def wait_log(gw, mark, text, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in gw.log_since(mark):
            return True
        time.sleep(0.1)
    return False


def test_reload():
    gw = gateway()
    o = cli(gw, "cert", "reload")
    t.ok(o.rc == EX_UNAVAILABLE and o.err == "mssgate: no daemon running: "
         "%s: No such file or directory\n" % gw.pid_file,
         "reload with no daemon: 69, said so", o)
    gw.start()
    first, verified = tls_serial(gw, gw.port_subs)
    t.ok(first is not None and verified, "a first s_client session "
         "verifies the daemon's certificate", first)
    r = records(gw)
    t.ok(r.get("(tls_cert_file)", {}).get("used_by") ==
         ["tls_cert_file", "tls_client_cert_file"] and
         r["(tls_cert_file)"]["serial"] == first,
         "list: the server certificate the daemon made, unmanaged, with "
         "where it is used", r.get("(tls_cert_file)"))

    # a session opened before the rotation
    ctx = ssl.create_default_context(cafile=gw.ca)
    old = ctx.wrap_socket(socket.create_connection(
        ("127.0.0.1", gw.port_subs), timeout=30), server_hostname="localhost")
    f = old.makefile("rb")
    greet = f.readline()
    t.ok(greet.startswith(b"220 "), "the old session got its greeting", greet)

    tls_crt = gw.settings()["tls_cert_file"]
    tls_key = gw.settings()["tls_key_file"]
    o = cli(gw, "--json", "cert", "issue", "operator", "rot1", "--dns",
            "localhost", "--cert-out", tls_crt, "--key-out", tls_key)
    new = o.json()[0]["serial"] if o.rc == 0 else "?"
    t.ok(o.rc == 0 and new != first and o.json()[0]["used_by"] ==
         ["tls_cert_file", "tls_client_cert_file"],
         "issue rot1 over tls_cert_file and tls_key_file", o)
    mark = os.path.getsize(gw.log)
    o = cli(gw, "cert", "reload")
    t.ok(o.rc == 0 and re.match(r"sent SIGHUP to mssgated \(pid \d+\)",
                                o.out), "cert reload: SIGHUP sent", o)
    t.ok(wait_log(gw, mark, "daemon reloaded"), "the daemon reloaded",
         gw.log_since(mark))
    got, verified = tls_serial(gw, gw.port_subs)
    t.ok(got == new and verified, "a new s_client session sees the new "
         "serial %s" % new, got)
    t.eq(serial_of_der(old.getpeercert(binary_form=True)), first,
         "the old session still holds the old certificate")
    old.sendall(b"EHLO client.test\r\n")
    reply = b""
    while True:
        line = f.readline()
        reply += line
        if not line or line[3:4] == b" ":
            break
    t.ok(reply.startswith(b"250-") and b"\r\n250 " in reply,
         "the old session keeps working (EHLO answered)", reply)
    old.sendall(b"QUIT\r\n")
    t.ok(f.readline().startswith(b"221"), "the old session ends cleanly")
    old.close()

    # a certificate without its key: refused before any signal
    o = cli(gw, "cert", "issue", "server", "rot2", "--dns", "localhost",
            "--cert-out", tls_crt)
    t.eq(o.rc, 0, "issue rot2 over tls_cert_file only (its key elsewhere)")
    mark = os.path.getsize(gw.log)
    o = cli(gw, "cert", "reload")
    t.ok(o.rc == EX_DATAERR and "the daemon would refuse the certificates: "
         in o.err and "mismatch" in o.err and "no signal sent" in o.err,
         "cert reload with a mismatched key: refused, no signal", o)
    time.sleep(0.5)
    t.ok("reload" not in gw.log_since(mark), "the daemon saw no reload")
    got, verified = tls_serial(gw, gw.port_subs)
    t.eq(got, new, "new sessions still get rot1")
    r = records(gw)
    t.ok("rot1" not in r and r["rot2"]["used_by"] == [
        "tls_cert_file", "tls_client_cert_file"],
        "rot2 superseded rot1 (same file)", sorted(r))
    gw.stop()
    o = cli(gw, "cert", "reload")
    t.ok(o.rc == EX_UNAVAILABLE and "no daemon running" in o.err,
         "reload after the daemon stopped: 69", o)


def serial_of_der(der):
    p = openssl("x509", "-inform", "DER", "-noout", "-serial", stdin=der)
    return p.stdout.decode().strip().split("=", 1)[1]


run_tests(t, test_usage, test_ca_init, test_issue, test_list_show,
          test_verify, test_revoke_crl, test_trust, test_import_export,
          test_bad_input, test_del, test_reload)
