# SPDX-License-Identifier: MIT
"""Messages signed by the gateway's S/MIME engine, checked by two
verifiers that share no code with it: OpenSSL's `openssl cms -verify` and
GnuPG's gpgsm (Debian package gpgsm). No daemon: the unit test
tests/unit/test_smime writes its signed and encrypted messages, its CA
and a recipient's certificate and key into $SMIME_OUT_DIR when that is set.

Checked, for RSA-2048 and P-256 signers, a plain ASCII message, an 8-bit
UTF-8 one and a multipart/mixed with an attachment:
- the structure, read with Python's email module: the top-level header
  kept (Subject), multipart/signed with the S/MIME protocol and
  micalg=sha-256, two parts, the second application/pkcs7-signature;
  every line ends in CRLF, the body is 7-bit;
- `openssl cms -verify -CAfile ca.pem -purpose smimesign` succeeds and
  returns exactly the first part;
- gpgsm, with the CA imported and marked trusted (trustlist.txt) and CRL
  checks off, reports GOODSIG, VALIDSIG and TRUST_FULLY for the detached
  signature over the first part (both extracted here);
- the same message with one byte of the signed text changed fails with
  both (openssl: exit 4, gpgsm: BADSIG).
The encrypted message decrypts with `openssl cms -decrypt`.
gpgsm missing or failing for an environmental reason is a failure, with
its output as diagnostic.
"""

import email
import email.policy
import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile

from mssgate_test import Tap, run_tests

t = Tap()

BUILDDIR = os.environ.get("MSSGATE_BUILDDIR", ".")
TEST_SMIME = os.path.join(BUILDDIR, "tests", "unit", "test_smime")
TIMEOUT = 60
SIGNED = ["signed-rsa.eml", "signed-ec.eml", "signed-utf8.eml",
          "signed-mixed.eml"]
# A byte of the signed text of each message to change, and its change.
TAMPER = {
    "signed-rsa.eml": (b"This is a test.", b"This is a tesT."),
    "signed-ec.eml": (b"This is a test.", b"This is a tesT."),
    "signed-utf8.eml": (b"Bonjour H=C3", b"Bonjour h=C3"),
    "signed-mixed.eml": (b"JVBERi0xLjQK", b"JVBERi0xLjQL"),
}

WORK = tempfile.mkdtemp(prefix="mss-smime-")
OUT = os.path.join(WORK, "out")
GNUPGHOME = os.path.join(WORK, "gnupg")


def run(cmd, env=None, data=None):
    """Run cmd, return (exit code, stdout, stderr) as text."""
    try:
        p = subprocess.run(cmd, input=data, capture_output=True,
                           timeout=TIMEOUT, env=env)
    except FileNotFoundError as e:
        return 127, "", str(e)
    except subprocess.TimeoutExpired:
        return 124, "", "timeout after %d s: %s" % (TIMEOUT, cmd)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def read(name):
    with open(os.path.join(OUT, name), "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def split_signed(data):
    """The boundary, the signed first part (exact bytes, RFC 1847: from
    after the first delimiter line to the CRLF before the next one) and
    the DER signature of a multipart/signed message."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    boundary = msg.get_boundary().encode()
    body = data.split(b"\r\n\r\n", 1)[1]
    delim = b"--" + boundary
    start = body.index(b"\r\n" + delim + b"\r\n") + len(delim) + 4
    end = body.index(b"\r\n" + delim, start)
    sig = msg.get_payload()[1].get_payload(decode=True)
    return boundary, body[start:end], sig


def gpgsm_env():
    env = dict(os.environ)
    env["GNUPGHOME"] = GNUPGHOME
    env["LC_ALL"] = "C"
    return env


def test_generate():
    os.makedirs(OUT)
    env = dict(os.environ)
    env["SMIME_OUT_DIR"] = OUT
    env["CMOCKA_MESSAGE_OUTPUT"] = "TAP"
    rc, out, err = run([TEST_SMIME], env=env)
    t.ok(rc == 0, "test_smime wrote the signed messages (exit 0)",
         out + err)
    missing = [n for n in SIGNED + ["encrypted.eml", "ca.pem", "rsa.crt",
                                    "rsa.key"]
               if not os.path.isfile(os.path.join(OUT, n))]
    t.eq(missing, [], "every message, the CA and the recipient are there")


def test_structure():
    for name in SIGNED:
        data = read(name)
        lines_ok = b"\n" not in data.replace(b"\r\n", b"") and \
            b"\r" not in data.replace(b"\r\n", b"")
        t.ok(lines_ok, "%s: every line ends in CRLF" % name)
        head, body = data.split(b"\r\n\r\n", 1)
        t.ok(all(b < 0x80 for b in body), "%s: the body is 7-bit" % name)
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        t.eq((msg.get_content_type(), msg.get_param("protocol"),
              msg.get_param("micalg")),
             ("multipart/signed", "application/pkcs7-signature", "sha-256"),
             "%s: multipart/signed, S/MIME protocol, sha-256" % name)
        t.ok(msg["Subject"] is not None and msg["From"] is not None,
             "%s: Subject and From kept" % name, head)
        parts = msg.get_payload()
        t.eq([p.get_content_type() for p in parts][1:],
             ["application/pkcs7-signature"],
             "%s: two parts, the second the signature" % name)
        t.eq(len(parts), 2, "%s: exactly two parts" % name)


def openssl_verify(path, content_out):
    return run(["openssl", "cms", "-verify", "-CAfile",
                os.path.join(OUT, "ca.pem"), "-purpose", "smimesign",
                "-in", path, "-out", content_out])


def test_openssl():
    for name in SIGNED:
        data = read(name)
        _, content, _ = split_signed(data)
        cout = os.path.join(WORK, name + ".content")
        rc, out, err = openssl_verify(os.path.join(OUT, name), cout)
        t.ok(rc == 0 and "Verification successful" in err,
             "openssl cms -verify: %s verifies" % name, out + err)
        with open(cout, "rb") as f:
            got = f.read()
        t.ok(got == content, "openssl cms -verify: %s, the content is the "
             "first part byte for byte" % name,
             "got %r\nwant %r" % (got[:200], content[:200]))

        frm, to = TAMPER[name]
        t.ok(data.count(frm) == 1, "%s: the byte to change is there" % name)
        bad = os.path.join(WORK, "bad-" + name)
        write(bad, data.replace(frm, to))
        rc, out, err = openssl_verify(bad, os.path.join(WORK, "bad.out"))
        t.ok(rc != 0 and "Verification failure" in err,
             "openssl cms -verify: %s with one byte changed fails" % name,
             "exit %d\n%s%s" % (rc, out, err))


def gpgsm_setup():
    """A private GnuPG home: the CA imported and trusted, no CRL checks,
    no dirmngr. Returns "" or the reason it failed."""
    os.makedirs(GNUPGHOME, mode=0o700)
    with open(os.path.join(GNUPGHOME, "gpgsm.conf"), "w") as f:
        f.write("disable-crl-checks\ndisable-dirmngr\n")
    with open(os.path.join(OUT, "ca.pem")) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    fpr = hashlib.sha1(der).hexdigest().upper()
    with open(os.path.join(GNUPGHOME, "trustlist.txt"), "w") as f:
        f.write("%s S\n" % ":".join(fpr[i:i + 2]
                                    for i in range(0, len(fpr), 2)))
    rc, out, err = run(["gpgsm", "--batch", "--import",
                        os.path.join(OUT, "ca.pem")], env=gpgsm_env())
    if rc != 0:
        return "gpgsm --import ca.pem: exit %d\n%s%s" % (rc, out, err)
    return ""


def gpgsm_verify(sig, content):
    sp = os.path.join(WORK, "sig.p7s")
    cp = os.path.join(WORK, "content.eml")
    write(sp, sig)
    write(cp, content)
    return run(["gpgsm", "--batch", "--status-fd", "1", "--verify", sp, cp],
               env=gpgsm_env())


def test_gpgsm():
    if shutil.which("gpgsm") is None:
        t.ok(False, "gpgsm is installed (Debian package gpgsm)",
             "gpgsm not found in PATH=%s" % os.environ.get("PATH"))
        return
    why = gpgsm_setup()
    if not t.ok(why == "", "gpgsm: the CA imported and trusted", why):
        return
    for name in SIGNED:
        data = read(name)
        _, content, sig = split_signed(data)
        rc, out, err = gpgsm_verify(sig, content)
        t.ok(rc == 0 and "[GNUPG:] GOODSIG" in out and
             "[GNUPG:] VALIDSIG" in out and "[GNUPG:] TRUST_FULLY" in out,
             "gpgsm --verify: %s, good signature from a trusted chain" % name,
             "exit %d\n%s%s" % (rc, out, err))

        frm, to = TAMPER[name]
        rc, out, err = gpgsm_verify(sig, content.replace(frm, to))
        t.ok(rc != 0 and "[GNUPG:] BADSIG" in out and "GOODSIG" not in out,
             "gpgsm --verify: %s with one byte changed: bad signature"
             % name, "exit %d\n%s%s" % (rc, out, err))


def test_decrypt():
    rc, out, err = run(["openssl", "cms", "-decrypt", "-in",
                        os.path.join(OUT, "encrypted.eml"), "-recip",
                        os.path.join(OUT, "rsa.crt"), "-inkey",
                        os.path.join(OUT, "rsa.key")])
    t.ok(rc == 0 and out.startswith("Content-Type: text/plain; charset="
                                    "UTF-8\r\nContent-Transfer-Encoding: "
                                    "quoted-printable\r\n\r\nBonjour "
                                    "H=C3=A9l=C3=A8ne,\r\n"),
         "openssl cms -decrypt: the encrypted message decrypts to its "
         "entity", "exit %d\n%s%s" % (rc, out[:300], err))
    data = read("encrypted.eml")
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    t.eq((msg.get_content_type(), msg.get_param("smime-type")),
         ("application/pkcs7-mime", "enveloped-data"),
         "encrypted.eml: application/pkcs7-mime; smime-type=enveloped-data")


def cleanup():
    if os.path.isdir(GNUPGHOME):
        run(["gpgconf", "--kill", "all"], env=gpgsm_env())
    shutil.rmtree(WORK, ignore_errors=True)


try:
    run_tests(t, test_generate, test_structure, test_openssl, test_gpgsm,
              test_decrypt)
finally:
    cleanup()
