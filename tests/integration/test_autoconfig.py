# SPDX-License-Identifier: MIT
"""Client autoconfiguration over HTTPS (DOMAIN.md 6.1): curl fetches
Thunderbird's config-v1.1.xml at both well-known paths, verified against
the dev CA; the document is valid XML naming our IMAP and submission
endpoints (implicit TLS and STARTTLS, the full address as user name);
other domains, paths and methods are refused.
"""

import subprocess
import xml.etree.ElementTree as ET

from mssgate_test import Gateway, Tap, run_tests

t = Tap()
gw = Gateway()


def curl(path, *extra):
    p = subprocess.run(["curl", "-sS", "--cacert", gw.ca, "-o", "-",
                        "-w", "\n%{http_code} %{content_type}",
                        "https://localhost:%d%s" % (gw.port_https, path)]
                       + list(extra), capture_output=True, timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    body, _, status = out.rpartition("\n")
    return p.returncode, body, status


def servers(doc):
    root = ET.fromstring(doc)
    prov = root.find("emailProvider")
    res = []
    for tag in ("incomingServer", "outgoingServer"):
        for s in prov.findall(tag):
            res.append((tag, s.get("type"), s.findtext("hostname"),
                        s.findtext("port"), s.findtext("socketType"),
                        s.findtext("authentication"),
                        s.findtext("username")))
    return root, prov, res


def test_well_known():
    gw.start()
    rc, body, status = curl("/.well-known/autoconfig/mail/"
                            "config-v1.1.xml")
    t.eq(rc, 0, "curl verifies the certificate and succeeds")
    t.like(status, r"^200 application/xml", "200 with application/xml")
    root, prov, res = servers(body)
    t.eq(root.get("version"), "1.1", "clientConfig version 1.1")
    t.eq(prov.findtext("domain"), gw.domain, "the local domain")
    want = [
        ("incomingServer", "imap", "localhost", str(gw.port_imaps), "SSL",
         "password-cleartext", "%EMAILADDRESS%"),
        ("incomingServer", "imap", "localhost", str(gw.port_imap),
         "STARTTLS", "password-cleartext", "%EMAILADDRESS%"),
        ("outgoingServer", "smtp", "localhost", str(gw.port_subs), "SSL",
         "password-cleartext", "%EMAILADDRESS%"),
        ("outgoingServer", "smtp", "localhost", str(gw.port_sub),
         "STARTTLS", "password-cleartext", "%EMAILADDRESS%"),
    ]
    t.eq(res, want, "IMAP and submission endpoints, TLS only")
    t.ok(not any(r[4] == "plain" for r in res), "no plaintext socket type")


def test_by_address():
    rc, body, status = curl("/mail/config-v1.1.xml?emailaddress=dr.martin%%40%s"
                            % gw.domain)
    t.like(status, r"^200 ", "autoconfig.<domain> path with emailaddress")
    _, prov, _ = servers(body)
    t.eq(prov.get("id"), gw.domain, "emailProvider id is the domain")
    rc, body, status = curl("/mail/config-v1.1.xml?emailaddress="
                            "someone%40other-operator.test")
    t.like(status, r"^404 ", "a domain not served here: 404")


def test_refusals():
    rc, body, status = curl("/nothing/here")
    t.like(status, r"^404 ", "unknown path: 404")
    rc, body, status = curl("/.well-known/autoconfig/mail/config-v1.1.xml",
                            "-X", "POST", "--data", "x=1")
    t.like(status, r"^(405|501) ", "POST refused (not implemented here)")
    # plaintext HTTP on the TLS port gets no document
    p = subprocess.run(["curl", "-sS", "-m", "5",
                        "http://localhost:%d/.well-known/autoconfig/mail/"
                        "config-v1.1.xml" % gw.port_https],
                       capture_output=True, timeout=30)
    t.ok(b"clientConfig" not in p.stdout, "no document over plain HTTP")
    t.eq(gw.stop(), 0, "daemon stops cleanly")


try:
    run_tests(t, test_well_known, test_by_address, test_refusals)
finally:
    gw.cleanup()
