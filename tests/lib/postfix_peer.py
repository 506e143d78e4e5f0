# SPDX-License-Identifier: MIT
"""A private Postfix (Debian's package) run as another MSSanté operator,
for the tests and benchmarks of mail between operators.

PostfixPeer builds one instance in a temporary folder: its own
config_directory, queue_directory, data_directory, log file and virtual
mailboxes (maildir), its own CA and a certificate issued by it (CN and
SAN the operator's domain, SAN also localhost and IP 127.0.0.1, usable
as server and client certificate), and two smtpd listeners on free
127.0.0.1 ports, both with STARTTLS required:

  port         the operator's relay port ("port 25"): a client
               certificate is required and must chain to trusted CAs
               (smtpd_tls_req_ccert); only its own domain is accepted.
  port_submit  a submission port without client certificates for the
               loopback network (tests, load generators): relays to the
               routed domains.

Its SMTP client verifies the server certificate of every next hop
(smtp_tls_security_level = verify, against the trusted CAs) and presents
its client certificate; routes (transport map) send a domain to
[host]:port. Mail for its own domain is delivered by `virtual` to
maildirs under .mail.

It is started with `postfix -c DIR start` and stopped with `postfix -c
DIR stop` (then abort, then SIGKILL of the master and of every process
that still carries the instance's MAIL_CONFIG); an atexit hook stops it
and removes the folder whatever happens. Postfix runs only as root, from
root-owned folders that are not group or other writable: the folder is
made so (0755) whatever the umask.

Also usable from a shell (benchmarks), without the atexit hook:
  python3 postfix_peer.py write DIR DOMAIN [options]   (see --help)
writes the configuration and certificates and prints shell variables;
the caller then runs `postfix -c DIR/conf start` and stops it itself.
"""

import atexit
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

from mssgate_test import free_port

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"
SENDMAIL = "/usr/sbin/sendmail"


def available():
    """None when a private Postfix can run here, else why not."""
    if os.geteuid() != 0:
        return "Postfix runs only as root"
    for p in (POSTFIX, POSTQUEUE, SENDMAIL):
        if not os.access(p, os.X_OK):
            return "%s not found (Debian package postfix)" % p
    if shutil.which("openssl") is None:
        return "openssl not found"
    return None


def _run(args, **kw):
    p = subprocess.run(args, capture_output=True, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (
            " ".join(args), p.returncode,
            p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace")))
    return p


class CA:
    """A small certificate authority made with the openssl command
    (RSA 2048, as the gateway's development CA)."""

    def __init__(self, directory, cn):
        os.makedirs(directory, mode=0o755, exist_ok=True)
        self.dir = directory
        self.cert = os.path.join(directory, "ca.crt")
        self.key = os.path.join(directory, "ca.key")
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
              "-keyout", self.key, "-out", self.cert, "-days", "30",
              "-subj", "/O=Test operator/CN=%s" % cn,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash"])
        os.chmod(self.key, 0o600)
        os.chmod(self.cert, 0o644)

    def issue(self, name, cn, dns=(), ips=()):
        """A certificate for both TLS server and client use; returns
        (cert path, key path)."""
        cert = os.path.join(self.dir, name + ".crt")
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        san = ["DNS:%s" % d for d in dns] + ["IP:%s" % i for i in ips]
        with open(ext, "w") as f:
            f.write("basicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature, "
                    "keyEncipherment\n"
                    "extendedKeyUsage = serverAuth, clientAuth\n"
                    "subjectKeyIdentifier = hash\n"
                    "authorityKeyIdentifier = keyid\n")
            if san:
                f.write("subjectAltName = %s\n" % ", ".join(san))
        _run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
              "-keyout", key, "-out", csr, "-subj", "/CN=%s" % cn])
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert,
              "-CAkey", self.key, "-set_serial",
              str(int.from_bytes(os.urandom(8), "big")), "-days", "30",
              "-extfile", ext, "-out", cert])
        os.chmod(key, 0o600)
        os.chmod(cert, 0o644)
        return cert, key


class PostfixPeer:
    """One private Postfix on free loopback ports in a temporary folder.

    domain       the operator's domain (virtual mailbox domain)
    users        local parts that have a maildir; others get 550
    routes       {domain: (host, port)}: where mail for other operators
                 goes (smtp:[host]:port, certificate verified; the name
                 it must carry is the domain, as MSSanté certificates
                 name their operator's domain)
    trusted_cas  CA files trusted besides its own: for the client
                 certificates it receives and the servers it connects to
    client_ca    a CA object to issue its client certificate with
                 instead of its own (a certificate the peers do not
                 trust); the server certificate stays its own CA's
    main_extra   extra main.cf settings {key: value}
    """

    def __init__(self, domain="postfix.test", name="pf", users=("user",),
                 routes=None, trusted_cas=(), client_ca=None, tmp=None,
                 main_extra=None, hostname=None, cleanup_at_exit=True,
                 port=None, port_submit=None):
        self.domain = domain
        self.name = name
        self.users = list(users)
        self.routes = dict(routes or {})
        self.trusted_cas = list(trusted_cas)
        self.main_extra = dict(main_extra or {})
        self.hostname = hostname or "mx." + domain
        self.tmp = tmp or tempfile.mkdtemp(prefix="postfix-peer-")
        # Postfix refuses folders that are not root's or that others may
        # write to; its unprivileged user must walk to its queue.
        os.chmod(self.tmp, 0o755)
        self.conf = os.path.join(self.tmp, "conf")
        self.queue = os.path.join(self.tmp, "queue")
        self.data = os.path.join(self.tmp, "data")
        self.mail = os.path.join(self.tmp, "mail")
        self.pki = os.path.join(self.tmp, "pki")
        self.log = os.path.join(self.tmp, "maillog")
        self.port = port or free_port()
        self.port_submit = port_submit or free_port()
        self.running = False
        for d in (self.conf, self.queue, self.pki):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        os.makedirs(self.data, exist_ok=True)
        os.chown(self.data, pwd.getpwnam("postfix").pw_uid, -1)
        os.chmod(self.data, 0o700)
        # virtual(8) delivers as this user: not root (virtual_minimum_uid)
        self.mail_uid = pwd.getpwnam("nobody").pw_uid
        self.mail_gid = grp.getgrnam("nogroup").gr_gid
        os.makedirs(self.mail, exist_ok=True)
        os.chmod(self.mail, 0o755)
        os.chown(self.mail, self.mail_uid, self.mail_gid)

        self.ca_obj = CA(os.path.join(self.pki, "ca"),
                         "%s test CA" % domain)
        self.ca = self.ca_obj.cert
        self.cert, self.key = self.ca_obj.issue(
            "server", domain, dns=(domain, self.hostname, "localhost"),
            ips=("127.0.0.1",))
        if client_ca is not None:
            self.client_cert, self.client_key = client_ca.issue(
                "client-" + name, domain, dns=(domain, self.hostname),
                ips=("127.0.0.1",))
        else:
            self.client_cert, self.client_key = self.cert, self.key
        if cleanup_at_exit:
            atexit.register(self.cleanup)
        self.write_config()

    # --- configuration --------------------------------------------------

    def bundle(self):
        """The trusted CAs' file: its own and the trusted ones."""
        path = os.path.join(self.conf, "trusted-cas.pem")
        with open(path, "w") as out:
            for ca in [self.ca] + self.trusted_cas:
                with open(ca) as f:
                    text = f.read()
                out.write(text if text.endswith("\n") else text + "\n")
        os.chmod(path, 0o644)
        return path

    def main_cf(self):
        bundle = self.bundle()
        transport = ", ".join(
            "{%s = smtp:[%s]:%d}" % (d, h, p)
            for d, (h, p) in sorted(self.routes.items()))
        policy = ", ".join(
            "{[%s]:%d = verify match=%s}" % (h, p, d)
            for d, (h, p) in sorted(self.routes.items()))
        mailboxes = ", ".join("{%s@%s = %s/%s/}" % (u, self.domain,
                                                    self.domain, u)
                              for u in self.users)
        s = {
            "compatibility_level": "3.6",
            "config_directory": self.conf,
            "queue_directory": self.queue,
            "data_directory": self.data,
            # postfix-files and dynamicmaps.cf of the package
            "meta_directory": "/etc/postfix",
            "myhostname": self.hostname,
            "mydomain": self.domain,
            "myorigin": "$mydomain",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "relay_domains": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relayhost": "",
            "biff": "no",
            # no DNS: next hops are loopback literals
            "disable_dns_lookups": "yes",
            "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "maillog_file": self.log,
            "maillog_file_prefixes": self.tmp,
            # the operator's mailboxes
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "inline:{ %s }" % mailboxes,
            "virtual_uid_maps": "static:%d" % self.mail_uid,
            "virtual_gid_maps": "static:%d" % self.mail_gid,
            "virtual_transport": "virtual",
            # other operators
            "transport_maps": "inline:{ %s }" % transport if transport
            else "",
            # server side: STARTTLS always; client certificates checked
            # against the trusted CAs (the relay listener requires one)
            "smtpd_tls_security_level": "encrypt",
            "smtpd_tls_cert_file": self.cert,
            "smtpd_tls_key_file": self.key,
            "smtpd_tls_CAfile": bundle,
            "smtpd_tls_received_header": "yes",
            "smtpd_tls_loglevel": "1",
            # client side: the next hop's certificate verified, ours shown
            "smtp_tls_security_level": "verify",
            "smtp_tls_CAfile": bundle,
            "smtp_tls_cert_file": self.client_cert,
            "smtp_tls_key_file": self.client_key,
            "smtp_tls_policy_maps": "inline:{ %s }" % policy if policy
            else "",
            "smtp_tls_loglevel": "1",
            "smtp_tls_note_starttls_offer": "yes",
            # tests want quick retries of deferred mail
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            "queue_run_delay": "2s",
        }
        s.update(self.main_extra)
        return "".join("%s = %s\n" % kv for kv in s.items())

    def master_cf(self):
        return """\
127.0.0.1:%(port)d inet n - n - - smtpd
  -o syslog_name=postfix/relay
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_req_ccert=yes
  -o smtpd_relay_restrictions=permit_tls_all_clientcerts,reject_unauth_destination
  -o smtpd_recipient_restrictions=reject_unauth_destination
127.0.0.1:%(sub)d inet n - n - - smtpd
  -o syslog_name=postfix/submit
  -o smtpd_tls_security_level=encrypt
  -o smtpd_relay_restrictions=permit_mynetworks,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
tlsproxy  unix  -       -       n       -       0       tlsproxy
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""" % {"port": self.port, "sub": self.port_submit}

    def write_config(self):
        for name, text in (("main.cf", self.main_cf()),
                           ("master.cf", self.master_cf())):
            path = os.path.join(self.conf, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)

    # --- life cycle -----------------------------------------------------

    def check(self):
        """`postfix -c DIR check`: (exit status, output)."""
        p = subprocess.run([POSTFIX, "-c", self.conf, "check"],
                           capture_output=True)
        return p.returncode, (p.stdout + p.stderr).decode("utf-8",
                                                          "replace")

    def start(self, timeout=30):
        rc, out = self.check()
        if rc != 0:
            raise RuntimeError("postfix check failed:\n" + out)
        p = subprocess.run([POSTFIX, "-c", self.conf, "start"],
                           capture_output=True)
        self.running = True
        if p.returncode != 0:
            raise RuntimeError("postfix start failed:\n%s%s\n%s" % (
                p.stdout.decode(), p.stderr.decode(), self.log_text()))
        deadline = time.time() + timeout
        for port in (self.port, self.port_submit):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("postfix does not listen on "
                                           "%d:\n%s" % (port,
                                                        self.log_text()))
                    time.sleep(0.1)
        return self

    def reload(self):
        _run([POSTFIX, "-c", self.conf, "reload"])

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def pids(self):
        """Every process of this instance: postfix passes MAIL_CONFIG in
        the environment of the master and all its children."""
        want = ("MAIL_CONFIG=%s" % self.conf).encode()
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if want in env:
                out.append(int(d))
        return out

    def listening(self):
        """(address, port) of every TCP socket the instance listens on
        (from /proc: the socket inodes of its processes)."""
        inodes = set()
        for pid in self.pids():
            d = "/proc/%d/fd" % pid
            try:
                for fd in os.listdir(d):
                    try:
                        link = os.readlink(os.path.join(d, fd))
                    except OSError:
                        continue
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
            except OSError:
                continue
        out = set()
        for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6",
                                                       True)):
            try:
                with open(table) as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                col = row.split()
                if col[3] != "0A" or col[9] not in inodes:   # LISTEN
                    continue
                addr, port = col[1].split(":")
                if v6:
                    host = "[%s]" % addr
                else:
                    host = socket.inet_ntoa(bytes.fromhex(addr)[::-1])
                out.add((host, int(port, 16)))
        return sorted(out)

    def stop(self, timeout=20):
        if not self.running:
            return
        master = self.master_pid()
        subprocess.run([POSTFIX, "-c", self.conf, "stop"],
                       capture_output=True)
        deadline = time.time() + timeout
        while time.time() < deadline and self.pids():
            time.sleep(0.1)
        if self.pids():
            subprocess.run([POSTFIX, "-c", self.conf, "abort"],
                           capture_output=True)
            time.sleep(0.5)
        for pid in self.pids() + ([master] if master else []):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.running = False

    def cleanup(self):
        try:
            self.stop()
        finally:
            if not os.environ.get("MSSGATE_KEEP_TMP"):
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # --- observation ----------------------------------------------------

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=30):
        """The first match of pattern in the log (postlogd writes
        asynchronously), or None."""
        deadline = time.time() + timeout
        while True:
            m = re.search(pattern, self.log_text(), re.M)
            if m or time.time() > deadline:
                return m
            time.sleep(0.1)

    def maildir(self, user):
        return os.path.join(self.mail, self.domain, user)

    def mailbox(self, user):
        """Paths of the messages delivered to user, oldest first."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(user), sub)
            try:
                out += [os.path.join(d, n) for n in os.listdir(d)]
            except FileNotFoundError:
                pass
        return sorted(out, key=lambda p: os.stat(p).st_mtime)

    def count(self, user):
        """Messages in user's maildir new/ (the cheap count)."""
        try:
            return len(os.listdir(os.path.join(self.maildir(user), "new")))
        except FileNotFoundError:
            return 0

    def wait_mailbox(self, user, n=1, timeout=30):
        deadline = time.time() + timeout
        while True:
            box = self.mailbox(user)
            if len(box) >= n or time.time() > deadline:
                return box
            time.sleep(0.1)

    def queue_list(self):
        """`postqueue -c DIR -p` output."""
        p = subprocess.run([POSTQUEUE, "-c", self.conf, "-p"],
                           capture_output=True)
        return (p.stdout + p.stderr).decode("utf-8", "replace")

    def queue_files(self):
        """Queue files still waiting (any queue but the maildrop)."""
        n = 0
        for q in ("incoming", "active", "deferred", "hold", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.queue, q)):
                n += len(files)
        return n

    def flush(self):
        _run([POSTQUEUE, "-c", self.conf, "-f"])

    # --- injection ------------------------------------------------------

    def sendmail(self, sender, rcpts, msg):
        """Inject msg (bytes) with the instance's sendmail(1)."""
        p = subprocess.run([SENDMAIL, "-C", self.conf, "-i", "-f", sender,
                            "--"] + list(rcpts), input=msg,
                           capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("sendmail: exit %d: %s" % (
                p.returncode, p.stderr.decode("utf-8", "replace")))

    def smtp(self):
        """smtplib on the submission port, STARTTLS verified against the
        instance's CA."""
        c = smtplib.SMTP("127.0.0.1", self.port_submit, timeout=30)
        c.ehlo("client.test")
        c.starttls(context=ssl.create_default_context(cafile=self.ca))
        c.ehlo("client.test")
        return c


# --- command line (benchmarks) -----------------------------------------

def main(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="postfix_peer.py",
        description="Write a private Postfix instance into DIR (config, "
        "queue, CA and certificates) and print shell variables: PF_CONF, "
        "PF_QUEUE, PF_PORT, PF_PORT_SUBMIT, PF_CA, PF_CERT, PF_BUNDLE (the "
        "trusted CAs, read at start), PF_LOG, PF_MAILDIR (first user's "
        "maildir). Start it with `postfix -c $PF_CONF "
        "start`; stopping it and removing DIR are the caller's.")
    ap.add_argument("cmd", choices=["write"])
    ap.add_argument("dir")
    ap.add_argument("domain")
    ap.add_argument("--name", default="pf")
    ap.add_argument("--user", action="append", default=[])
    ap.add_argument("--route", action="append", default=[],
                    help="DOMAIN=HOST:PORT")
    ap.add_argument("--trust", action="append", default=[],
                    help="a CA file to trust")
    ap.add_argument("--main", action="append", default=[],
                    help="KEY=VALUE for main.cf")
    ap.add_argument("--port", type=int)
    ap.add_argument("--port-submit", type=int)
    a = ap.parse_args(argv)
    routes = {}
    for r in a.route:
        d, hp = r.split("=", 1)
        h, p = hp.rsplit(":", 1)
        routes[d] = (h, int(p))
    extra = dict(kv.split("=", 1) for kv in a.main)
    extra = {k.strip(): v.strip() for k, v in extra.items()}
    os.makedirs(a.dir, exist_ok=True)
    pf = PostfixPeer(domain=a.domain, name=a.name,
                     users=a.user or ["user"], routes=routes,
                     trusted_cas=a.trust, tmp=os.path.abspath(a.dir),
                     main_extra=extra, cleanup_at_exit=False,
                     port=a.port, port_submit=a.port_submit)
    for k, v in (("PF_CONF", pf.conf), ("PF_QUEUE", pf.queue),
                 ("PF_PORT", pf.port), ("PF_PORT_SUBMIT", pf.port_submit),
                 ("PF_CA", pf.ca), ("PF_CERT", pf.cert),
                 ("PF_BUNDLE", os.path.join(pf.conf, "trusted-cas.pem")),
                 ("PF_LOG", pf.log),
                 ("PF_MAILDIR", pf.maildir(pf.users[0]))):
        print("%s=%s" % (k, v))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
