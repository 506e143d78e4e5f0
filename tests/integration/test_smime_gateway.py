# SPDX-License-Identifier: MIT
"""S/MIME in the running gateway, end to end: one mssgated, two users,
dr.a with a signing certificate bound to its address (`mssgate cert
issue smime a-sign --email dr.a@mssante.test`, made before the daemon
starts), dr.b without one. Checked on the messages as stored in the
recipients' INBOX (`mssgate message show`, byte for byte):

- dr.a's mail is signed by the gateway: multipart/signed with the S/MIME
  protocol and micalg=sha-256, every line in CRLF, a 7-bit body; it
  verifies with `openssl cms -verify -CAfile certs/ca.crt -purpose
  smimesign`, which returns the first part byte for byte and a signer
  certificate naming dr.a; the text arrives intact (ASCII, 8-bit UTF-8,
  and a multipart/mixed with a binary attachment), the Subject outside
  the signature; a second verifier that shares no code with OpenSSL,
  GnuPG's gpgsm (Debian package gpgsm), agrees: good signature, trusted
  chain. The stored message with one byte of its text changed fails
  both verifiers;
- messages dr.b signs itself (`openssl cms -sign`, with a certificate
  this test issues from the gateway's development CA key, not registered
  in the gateway) are verified by the gateway: the delivered copy says
  `X-MSSGate-Signature: valid; signer="dr.b@mssante.test"`; with one
  byte changed after signing, `invalid; reason="..."`; signed under a
  CA the gateway does not trust, `untrusted; signer=...; reason=...`;
  everything else arrives byte for byte;
- no copy of X-MSSGate-Signature comes from outside: on unsigned mail
  the forged fields (any case, folded) are removed and none is added; on
  a signed message only the gateway's own field is left; on mail the
  gateway signs, the forged field is neither outside nor inside the
  signature;
- `mssgate cert revoke a-sign`: dr.a's next message arrives unsigned, as
  submitted (store_cert_find_smime skips revoked certificates), and
  `cert list` says revoked.
"""

import base64
import email
import email.policy
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid

from mssgate_test import Gateway, Tap, run_tests, strip_trace

t = Tap()

TIMEOUT = 60
WAIT = 30
A = "dr.a@mssante.test"
B = "dr.b@mssante.test"
WORK = tempfile.mkdtemp(prefix="mssgate-smime-gw-")
GNUPGHOME = os.path.join(WORK, "gnupg")
S = {}              # set up by test_setup
SIGNED = {}         # name -> (original message, stored message)
# the attachment: every byte value, so nothing 8-bit slips through
ATTACHMENT = bytes(range(256)) * 8


# --- helpers -------------------------------------------------------------


def run(cmd, env=None, data=None):
    """(exit code, stdout, stderr) of cmd, as text; 127 when missing."""
    try:
        p = subprocess.run(cmd, input=data, capture_output=True,
                           timeout=TIMEOUT, env=env)
    except FileNotFoundError as e:
        return 127, "", str(e)
    except subprocess.TimeoutExpired:
        return 124, "", "timeout after %d s: %s" % (TIMEOUT, cmd)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def openssl(*args):
    rc, out, err = run(["openssl"] + list(args))
    if rc != 0:
        raise RuntimeError("openssl %s: exit %d\n%s%s" % (
            " ".join(args), rc, out, err))
    return out


def path(name):
    return os.path.join(WORK, name)


def write(name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(path(name), "wb") as f:
        f.write(data)
    return path(name)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def cli(g, *args):
    p = g.cli(*args)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def token():
    return uuid.uuid4().hex[:16]


def submit(g, user, pw, rcpt, msg):
    """AUTH as user, MAIL FROM user, RCPT rcpt, DATA msg (BODY=8BITMIME
    when it has 8-bit bytes); the DATA reply as (code, text)."""
    opts = ["BODY=8BITMIME"] if any(b > 0x7f for b in msg) else []
    c = g.smtp(login=user, password=pw)
    try:
        code, text = c.mail(user, opts)
        if code != 250:
            raise RuntimeError("MAIL FROM: %d %r" % (code, text))
        code, text = c.rcpt(rcpt)
        if code != 250:
            raise RuntimeError("RCPT TO: %d %r" % (code, text))
        code, text = c.data(msg)
    finally:
        c.quit()
    return code, text.decode("utf-8", "replace")


def find(g, user, tok, timeout=WAIT):
    """The stored message of user's INBOX that holds tok, or None."""
    seen = set()
    deadline = time.time() + timeout
    while True:
        for m in g.messages(user):
            if m["uid"] in seen:
                continue
            seen.add(m["uid"])
            raw = g.message(user, m["uid"])
            if tok.encode() in raw:
                return raw
        if time.time() > deadline:
            return None
        time.sleep(0.2)


def send(g, user, pw, rcpt, msg, tok, name):
    """Submit, check 250, and return the stored copy (or None)."""
    code, text = submit(g, user, pw, rcpt, msg)
    if not t.eq(code, 250, "%s: accepted (DATA 250)" % name):
        t.diag(text)
        return None
    raw = find(g, rcpt, tok)
    t.ok(raw is not None, "%s: in %s's INBOX" % (name, rcpt),
         g.log_text()[-2000:])
    return raw


def header(raw):
    return raw.split(b"\r\n\r\n", 1)[0]


def fields(raw, name):
    """The values of every top-level field name (unfolded, any case)."""
    head = header(raw).decode("utf-8", "replace")
    return [re.sub(r"\r\n[ \t]+", " ", m.group(1)).strip()
            for m in re.finditer(r"(?im)^%s[ \t]*:((?:[^\r\n]*)(?:\r\n[ \t]"
                                 r"[^\r\n]*)*)" % re.escape(name), head)]


def split_signed(data):
    """(signed first part, exact bytes as RFC 1847 says: from after the
    first delimiter line to the CRLF before the next one; the DER
    signature) of a multipart/signed message."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    delim = b"--" + msg.get_boundary().encode()
    body = data.split(b"\r\n\r\n", 1)[1]
    start = body.index(delim + b"\r\n") + len(delim) + 2
    end = body.index(b"\r\n" + delim, start)
    sig = msg.get_payload()[1].get_payload(decode=True)
    return body[start:end], sig


def crlf_only(data):
    rest = data.replace(b"\r\n", b"")
    return b"\r" not in rest and b"\n" not in rest


def cms_verify(name, data, ca):
    """openssl cms -verify of data: (exit, stderr, content, signer PEM)."""
    f = write(name, data)
    content, signer = path(name + ".content"), path(name + ".signer")
    for p in (content, signer):
        if os.path.exists(p):
            os.unlink(p)
    rc, out, err = run(["openssl", "cms", "-verify", "-CAfile", ca,
                        "-purpose", "smimesign", "-in", f, "-out", content,
                        "-signer", signer])
    got = read(content) if os.path.exists(content) else None
    sg = read(signer) if os.path.exists(signer) else None
    return rc, out + err, got, sg


# --- certificates made with openssl, beside the gateway's ----------------


LEAF_EXT = ("[leaf]\nbasicConstraints = critical, CA:FALSE\n"
            "keyUsage = critical, digitalSignature, nonRepudiation, "
            "keyEncipherment\nextendedKeyUsage = emailProtection\n"
            "subjectKeyIdentifier = hash\n"
            "authorityKeyIdentifier = keyid:always\n"
            "subjectAltName = email:%s\n")


def make_ca(name, cn):
    cnf = write(name + "-req.cnf", "[req]\ndistinguished_name = dn\n"
                "prompt = no\n[dn]\nCN = %s\nO = smime test\n[v3_ca]\n"
                "basicConstraints = critical, CA:TRUE\n"
                "keyUsage = critical, keyCertSign, cRLSign\n"
                "subjectKeyIdentifier = hash\n" % cn)
    openssl("req", "-x509", "-config", cnf, "-extensions", "v3_ca",
            "-newkey", "rsa:2048", "-nodes", "-keyout", path(name + ".key"),
            "-out", path(name + ".crt"), "-days", "30")
    return path(name + ".crt"), path(name + ".key")


def make_smime(name, address, ca_crt, ca_key):
    """A signing certificate for address from the CA (ca_crt, ca_key)."""
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes",
            "-keyout", path(name + ".key"), "-out", path(name + ".csr"),
            "-subj", "/CN=%s/O=smime test" % address)
    ext = write(name + ".ext", LEAF_EXT % address)
    openssl("x509", "-req", "-in", path(name + ".csr"), "-CA", ca_crt,
            "-CAkey", ca_key, "-set_serial", "0x" + uuid.uuid4().hex[:15],
            "-days", "30", "-sha256", "-extfile", ext, "-extensions",
            "leaf", "-out", path(name + ".crt"))
    return path(name + ".crt"), path(name + ".key")


def sign_entity(entity, crt, key):
    """The detached CMS signature (DER, SHA-256) of entity's exact bytes."""
    f = write("entity-%s" % token(), entity)
    out = f + ".p7s"
    openssl("cms", "-sign", "-binary", "-md", "sha256", "-signer", crt,
            "-inkey", key, "-in", f, "-outform", "DER", "-out", out)
    return read(out)


def signed_message(head, entity, sig):
    """A multipart/signed message (RFC 8551 3.5.3) around entity."""
    bnd = "----=_smime_" + token()
    b64 = base64.b64encode(sig).decode()
    lines = "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    return (head + "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/signed; "
            "protocol=\"application/pkcs7-signature\"; micalg=sha-256; "
            "boundary=\"%s\"\r\n\r\n"
            "This is an S/MIME signed message.\r\n\r\n--%s\r\n" % (
                bnd, bnd)).encode() + entity + (
        "\r\n--%s\r\n"
        "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"
        "%s\r\n--%s--\r\n" % (bnd, lines, bnd)).encode()


def head_fields(frm, to, tok, subject):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s %s\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
            "Message-ID: <%s@client.test>\r\n" % (frm, to, subject, tok,
                                                  tok))


# --- setup ---------------------------------------------------------------


def test_setup():
    g = Gateway(name="smime")
    S["g"] = g
    rc, out = cli(g, "cert", "ca", "init")
    t.ok(rc == 0, "setup: cert ca init", out)
    rc, out = cli(g, "--json", "cert", "issue", "smime", "a-sign",
                  "--email", A)
    rec = json.loads(out.splitlines()[0]) if rc == 0 else {}
    if not t.ok(rc == 0 and rec.get("smime_address") == A,
                "setup: cert issue smime a-sign --email %s, bound to the "
                "address" % A, out):
        return
    g.start()
    S["pa"] = g.add_user(A)
    S["pb"] = g.add_user(B)
    S["ca"] = g.ca
    # dr.b's own certificate from the gateway's CA, which the gateway
    # does not know as a signing certificate; and one from a CA it does
    # not trust.
    S["b_good"] = make_smime("b-good", B, g.ca,
                             os.path.join(g.certs, "ca.key"))
    other = make_ca("other-ca", "Other Test CA")
    S["b_other"] = make_smime("b-other", B, *other)
    rc, out = cli(g, "--json", "cert", "list")
    names = [json.loads(x).get("name") for x in out.splitlines()
             if x.startswith("{")]
    t.ok(rc == 0 and "a-sign" in names and not any(
        "b-good" in (n or "") for n in names),
        "setup: the registry has a-sign and nothing for dr.b", out)
    S["ready"] = True


def ready():
    return S.get("ready")


# --- dr.a: signed by the gateway -----------------------------------------


def msg_ascii(tok):
    text = ("Compte rendu %s.\r\nResultat: normal.\r\n"
            ".point en debut de ligne\r\nFin.\r\n" % tok)
    return (head_fields(A, B, tok, "ascii") + "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n" +
            text).encode(), text


def msg_utf8(tok):
    text = ("Bonjour Hélène, compte rendu %s.\r\nRésultat: très "
            "satisfaisant, €, ∑, 日本.\r\nFin.\r\n" % tok)
    return (head_fields(A, B, tok, "utf8") + "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + text).encode(), text


def msg_mixed(tok):
    text = "Ci-joint le résultat %s.\r\n" % tok
    att = base64.b64encode(ATTACHMENT).decode()
    att = "\r\n".join(att[i:i + 76] for i in range(0, len(att), 76))
    return (head_fields(A, B, tok, "mixed") + "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"mixed-b\"\r\n\r\n"
            "--mixed-b\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + text +
            "\r\n--mixed-b\r\nContent-Type: application/pdf; "
            "name=\"cr.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"cr.pdf\"\r\n\r\n"
            + att + "\r\n--mixed-b--\r\n").encode(), text


def check_content(name, content, text):
    """The first part, as a MIME entity, holds what dr.a wrote."""
    part = email.message_from_bytes(content, policy=email.policy.default)
    if name == "mixed":
        subs = list(part.iter_parts()) if part.is_multipart() else []
        t.eq([p.get_content_type() for p in subs],
             ["text/plain", "application/pdf"],
             "mixed: the signed part is the multipart/mixed, both parts")
        if len(subs) != 2:
            return
        t.eq(subs[0].get_content(), text, "mixed: the UTF-8 text arrives "
             "intact (decoded)")
        t.eq(subs[1].get_filename(), "cr.pdf", "mixed: the attachment's "
             "name is kept")
        t.ok(subs[1].get_payload(decode=True) == ATTACHMENT,
             "mixed: the attachment arrives byte for byte (2048 bytes, "
             "every value)")
        return
    t.eq(part.get_content_type(), "text/plain",
         "%s: the signed part is text/plain" % name)
    t.eq(part.get_content(), text, "%s: the text arrives intact (decoded "
         "from %s)" % (name, part.get("Content-Transfer-Encoding", "7bit")))


def test_signed_by_gateway():
    if not ready():
        return
    g = S["g"]
    for name, make in (("ascii", msg_ascii), ("utf8", msg_utf8),
                       ("mixed", msg_mixed)):
        tok = token()
        msg, text = make(tok)
        raw = send(g, A, S["pa"], B, msg, tok, "dr.a %s" % name)
        if raw is None:
            continue
        SIGNED[name] = (msg, raw)
        top = email.message_from_bytes(raw, policy=email.policy.compat32)
        t.eq((top.get_content_type(), top.get_param("protocol"),
              top.get_param("micalg")),
             ("multipart/signed", "application/pkcs7-signature",
              "sha-256"), "%s: stored as multipart/signed, S/MIME "
             "protocol, micalg=sha-256" % name)
        parts = top.get_payload() if top.is_multipart() else []
        t.eq([p.get_content_type() for p in parts][1:],
             ["application/pkcs7-signature"], "%s: the second part is the "
             "signature" % name)
        t.ok(crlf_only(raw), "%s: every line ends in CRLF" % name)
        t.ok(all(b < 0x80 for b in raw.split(b"\r\n\r\n", 1)[1]),
             "%s: the body is 7-bit" % name)
        t.eq(fields(raw, "Subject"), ["%s %s" % (name, tok)],
             "%s: the Subject is kept in the top-level header" % name)
        t.eq(fields(raw, "X-MSSGate-Signature"), [], "%s: no "
             "X-MSSGate-Signature on mail the gateway signed itself" % name)
        if top.get_content_type() != "multipart/signed":
            continue
        content, _ = split_signed(raw)
        rc, err, got, signer = cms_verify("a-%s.eml" % name, raw, S["ca"])
        t.ok(rc == 0 and "Verification successful" in err,
             "%s: openssl cms -verify -CAfile certs/ca.crt -purpose "
             "smimesign succeeds" % name, "exit %d\n%s" % (rc, err))
        t.ok(got == content, "%s: openssl returns the first part byte for "
             "byte" % name, "got %r\nwant %r" % ((got or b"")[:300],
                                                  content[:300]))
        if signer is not None:
            f = write("a-%s.signer.pem" % name, signer)
            emails = openssl("x509", "-in", f, "-noout", "-email").split()
            subj = openssl("x509", "-in", f, "-noout", "-subject",
                           "-nameopt", "RFC2253")
            t.eq(emails, [A], "%s: the signer certificate names %s (SAN "
                 "e-mail)" % (name, A))
            t.like(subj, r"CN=%s" % re.escape(A), "%s: ... and in its "
                   "subject CN" % name)
        else:
            t.ok(False, "%s: openssl wrote the signer certificate" % name)
        check_content(name, content, text)


def gpgsm_env():
    env = dict(os.environ)
    env["GNUPGHOME"] = GNUPGHOME
    env["LC_ALL"] = "C"
    return env


def gpgsm_setup():
    """A private GnuPG home: the CA imported and trusted (trustlist.txt),
    no CRL checks, no dirmngr. "" or why it failed."""
    os.makedirs(GNUPGHOME, mode=0o700)
    with open(os.path.join(GNUPGHOME, "gpgsm.conf"), "w") as f:
        f.write("disable-crl-checks\ndisable-dirmngr\n")
    with open(S["ca"]) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    fpr = hashlib.sha1(der).hexdigest().upper()
    with open(os.path.join(GNUPGHOME, "trustlist.txt"), "w") as f:
        f.write("%s S\n" % ":".join(fpr[i:i + 2]
                                    for i in range(0, len(fpr), 2)))
    rc, out, err = run(["gpgsm", "--batch", "--import", S["ca"]],
                       env=gpgsm_env())
    if rc != 0:
        return "gpgsm --import ca.crt: exit %d\n%s%s" % (rc, out, err)
    return ""


def gpgsm_verify(name, sig, content):
    sp = write(name + ".p7s", sig)
    cp = write(name + ".signed-part", content)
    return run(["gpgsm", "--batch", "--status-fd", "1", "--verify", sp, cp],
               env=gpgsm_env())


def test_gpgsm():
    if not ready() or not SIGNED:
        return
    if shutil.which("gpgsm") is None:
        t.ok(False, "gpgsm is installed (Debian package gpgsm): the second "
             "verifier", "gpgsm not found in PATH=%s" %
             os.environ.get("PATH"))
        return
    why = gpgsm_setup()
    if not t.ok(why == "", "gpgsm: the gateway's CA imported and trusted",
                why):
        return
    for name, (_, raw) in sorted(SIGNED.items()):
        if b"multipart/signed" not in header(raw):
            continue
        content, sig = split_signed(raw)
        rc, out, err = gpgsm_verify("g-" + name, sig, content)
        t.ok(rc == 0 and "[GNUPG:] GOODSIG" in out and
             "[GNUPG:] VALIDSIG" in out and "[GNUPG:] TRUST_FULLY" in out,
             "gpgsm --verify: %s, good signature, trusted chain" % name,
             "exit %d\n%s%s" % (rc, out, err))
        t.like(out + err, re.escape(A), "gpgsm: %s signed by %s" % (name, A))
        i = content.index(b"\r\n\r\n") + 4
        bad = content[:i] + content[i:i + 1].swapcase() + content[i + 1:]
        if bad == content:
            bad = content[:i] + b"X" + content[i + 1:]
        rc, out, err = gpgsm_verify("g-bad-" + name, sig, bad)
        t.ok(rc != 0 and "[GNUPG:] BADSIG" in out and "GOODSIG" not in out,
             "gpgsm --verify: %s with one byte of the text changed: bad "
             "signature" % name, "exit %d\n%s%s" % (rc, out, err))


def test_tampered_stored():
    if not ready() or "ascii" not in SIGNED:
        return
    _, raw = SIGNED["ascii"]
    t.eq(raw.count(b"Resultat: normal."), 1, "tampered: the line to change "
         "is in the stored message once")
    bad = raw.replace(b"Resultat: normal.", b"Resultat: Normal.")
    t.eq(sum(x != y for x, y in zip(raw, bad)), 1, "tampered: one byte "
         "differs")
    rc, err, _, _ = cms_verify("a-ascii-bad.eml", bad, S["ca"])
    t.ok(rc != 0 and "Verification failure" in err, "tampered: openssl cms "
         "-verify of the stored message with one byte changed fails",
         "exit %d\n%s" % (rc, err))


# --- dr.b signs itself: the gateway verifies -----------------------------


def entity(tok):
    return ("Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n"
            "Ordonnance %s.\r\nPosologie: 1 comprime le soir.\r\n"
            "Fin.\r\n" % tok).encode()


def test_verified_by_gateway():
    if not ready():
        return
    g = S["g"]
    forged = "X-MSSGate-Signature: valid; signer=\"%s\"\r\n" % B
    cases = []
    for name, cert, tamper, extra in (
            ("valid", S["b_good"], False, ""),
            ("tampered", S["b_good"], True, forged),
            ("untrusted", S["b_other"], False, forged)):
        tok = token()
        ent = entity(tok)
        sig = sign_entity(ent, *cert)
        if tamper:
            ent = ent.replace(b"1 comprime", b"2 comprime")
        msg = signed_message(head_fields(B, A, tok, "signed " + name) +
                             extra, ent, sig)
        # the test's own input, judged by openssl before the gateway
        ca = S["ca"] if name != "untrusted" else path("other-ca.crt")
        rc, err, _, _ = cms_verify("b-%s.eml" % name, msg, ca)
        t.ok((rc == 0) == (name != "tampered"), "dr.b %s: openssl agrees "
             "with what the message is before it is sent (exit %d)" % (
                 name, rc), err)
        cases.append((name, tok, msg, extra))

    want = {
        "valid": r'^valid; signer="dr\.b@mssante\.test"$',
        "tampered": r'^invalid; reason="[^"]+"$',
        "untrusted": r'^untrusted; signer="dr\.b@mssante\.test"; '
                     r'reason="[^"]+"$',
    }
    for name, tok, msg, extra in cases:
        raw = send(g, B, S["pb"], A, msg, tok, "dr.b %s" % name)
        if raw is None:
            continue
        got = fields(raw, "X-MSSGate-Signature")
        t.ok(len(got) == 1, "dr.b %s: exactly one X-MSSGate-Signature%s" % (
            name, " (the forged one removed)" if extra else ""), got)
        t.like(got[0] if got else None, want[name], "dr.b %s: the "
               "gateway records %s" % (name, want[name]))
        t.diag("%s: X-MSSGate-Signature: %s" % (name, got))
        sent = msg.replace(extra.encode(), b"") if extra else msg
        stored = strip_trace(raw)
        line = ("X-MSSGate-Signature: %s\r\n" % got[0]).encode() \
            if got else b""
        t.ok(stored == line + sent, "dr.b %s: stored as submitted (forged "
             "field out), under the Received field and the gateway's own "
             "field" % name, "got %r\nwant %r" % (stored[:600],
                                                   (line + sent)[:600]))
    t.like(g.log_text(), r"smtp smime verified status=invalid signer=",
           "the log says a signature was found invalid")
    t.like(g.log_text(), r"smtp smime verified status=valid signer=\"dr\.b@"
           r"mssante\.test\"", "the log names the valid signer")


# --- the field the gateway owns, forged ----------------------------------


def test_forged_header():
    if not ready():
        return
    g = S["g"]
    tok = token()
    forged = ("X-MSSGate-Signature: valid; signer=\"%s\"\r\n"
              "x-mssgate-signature: valid;\r\n signer=\"dr.x@mssante.test\""
              "\r\n" % B)
    plain = ("Content-Type: text/plain; charset=us-ascii\r\n\r\n"
             "Pas de signature %s.\r\n" % tok)
    msg = (head_fields(B, A, tok, "forged unsigned") + forged +
           "MIME-Version: 1.0\r\n" + plain).encode()
    before = g.log_text().count("smtp smime removed=2")
    raw = send(g, B, S["pb"], A, msg, tok, "forged, unsigned")
    if raw is not None:
        t.eq(fields(raw, "X-MSSGate-Signature"), [], "forged, unsigned: no "
             "X-MSSGate-Signature at all when it arrives (both forms, one "
             "folded, removed; none added)")
        t.eq(strip_trace(raw), msg.replace(forged.encode(), b""),
             "forged, unsigned: otherwise stored as submitted")
        t.ok(g.log_text().count("smtp smime removed=2") > before,
             "forged, unsigned: the log says two fields were removed",
             g.log_text()[-1500:])

    # dr.a's mail is signed after the forged field is removed: it is in
    # neither the top-level header nor the signed part.
    tok = token()
    msg = (head_fields(A, B, tok, "forged signed") + forged +
           "MIME-Version: 1.0\r\n" + plain.replace("Pas de", "Avec")
           ).encode()
    raw = send(g, A, S["pa"], B, msg, tok, "forged, signed by the gateway")
    if raw is not None:
        t.like(header(raw).decode(), r"(?i)content-type: multipart/signed",
               "forged, signed by the gateway: signed")
        t.eq(fields(raw, "X-MSSGate-Signature"), [], "forged, signed by the "
             "gateway: no X-MSSGate-Signature outside the signature")
        t.ok(b"mssgate-signature" not in raw.lower(), "forged, signed by "
             "the gateway: nor inside it")
        rc, err, _, _ = cms_verify("a-forged.eml", raw, S["ca"])
        t.ok(rc == 0, "forged, signed by the gateway: the signature "
             "verifies", err)


# --- revocation ----------------------------------------------------------


def test_revoked():
    if not ready():
        return
    g = S["g"]
    rc, out = cli(g, "cert", "revoke", "a-sign", "--reason",
                  "keyCompromise")
    t.ok(rc == 0 and re.match(r"revoked [0-9A-F]{16} \(a-sign\) on ", out),
         "cert revoke a-sign", out)
    rc, out = cli(g, "--json", "cert", "list")
    recs = {}
    for line in out.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            recs[r.get("name")] = r
    t.eq(recs.get("a-sign", {}).get("status"), "revoked",
         "cert list: a-sign is revoked")
    tok = token()
    msg, text = msg_ascii(tok)
    before = len(re.findall(r"smtp smime signed from=<%s>" % re.escape(A),
                            g.log_text()))
    raw = send(g, A, S["pa"], B, msg, tok, "dr.a after revocation")
    if raw is None:
        return
    t.ok(b"multipart/signed" not in header(raw) and
         b"pkcs7" not in raw, "revoked: dr.a's next message arrives "
         "unsigned", header(raw))
    t.eq(strip_trace(raw), msg, "revoked: stored as submitted, byte for "
         "byte under the Received field")
    t.eq(len(re.findall(r"smtp smime signed from=<%s>" % re.escape(A),
                        g.log_text())), before,
         "revoked: no signing logged for it")


def test_stop():
    if "g" in S:
        S["g"].stop()


def cleanup():
    if os.path.isdir(GNUPGHOME):
        run(["gpgconf", "--kill", "all"], env=gpgsm_env())
    if not os.environ.get("MSSGATE_KEEP_TMP"):
        shutil.rmtree(WORK, ignore_errors=True)


try:
    run_tests(t, test_setup, test_signed_by_gateway, test_gpgsm,
              test_tampered_stored, test_verified_by_gateway,
              test_forged_header, test_revoked, test_stop)
finally:
    cleanup()
