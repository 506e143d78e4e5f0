# SPDX-License-Identifier: MIT
"""Start-up errors: mssgated (and the CLI, which opens the same files)
refuses a bad configuration, bad TLS files, a bad store key, a corrupt or
truncated store and a busy listen port. Each refusal is quick, is an
orderly exit (code > 0, never a signal) and names the file, line, key or
cause on standard error. Also: `mssgated -t` validates a good
configuration and `mssgated -n` prints only the settings that differ from
the defaults, creating nothing.

Root runs these tests, so permissions cannot make a file unreadable: the
cases use directories, wrong sizes, wrong modes and garbage contents.
"""

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time

from mssgate_test import MSSGATE, MSSGATED, Gateway, Tap, run_tests

t = Tap()

EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_CONFIG = 78
QUICK = 10          # seconds a refusal may take
TIMEOUT = 30


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Run:
    """The outcome of one command: code, output, time, and whether a
    daemon started (it should not have; it is stopped then)."""

    def __init__(self, cmd, rc, out, err, secs, started=False):
        self.cmd, self.rc, self.out, self.err = cmd, rc, out, err
        self.secs, self.started = secs, started

    def __str__(self):
        return "$ %s\nexit %s after %.1fs%s\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.cmd), self.rc, self.secs,
            " (it had started)" if self.started else "", self.out[-2000:],
            self.err[-3000:])


def run(cmd, input=None, cwd=None):
    start = time.time()
    p = subprocess.run(cmd, input=input, capture_output=True, cwd=cwd,
                       timeout=TIMEOUT, preexec_fn=no_core,
                       stdin=None if input is not None else
                       subprocess.DEVNULL)
    return Run(cmd, p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"), time.time() - start)


def daemon(gw, *args):
    return run([MSSGATED, "-c", gw.conf] + list(args), cwd=gw.tmp)


def cli(gw, *args, input=None):
    return run([MSSGATE, "-c", gw.conf] + list(args), input=input,
               cwd=gw.tmp)


def start(gw):
    """`mssgated -c CONF` in the foreground: its exit, or - when it gets
    ready instead of refusing - the fact, after stopping it."""
    cmd = [MSSGATED, "-c", gw.conf]
    out_path = os.path.join(gw.tmp, "start.out")
    err_path = os.path.join(gw.tmp, "start.err")
    t0 = time.time()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err, cwd=gw.tmp, preexec_fn=no_core)
        started = False
        while p.poll() is None and time.time() - t0 < QUICK + 5:
            with open(err_path, "rb") as f:
                if b"daemon ready" in f.read():
                    started = True
                    break
            time.sleep(0.05)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    secs = time.time() - t0
    with open(out_path, "rb") as f:
        o = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        e = f.read().decode("utf-8", "replace")
    return Run(cmd, p.returncode, o, e, secs, started)


def refused(r, name, pattern, code=None):
    """Two checks: an orderly quick non-zero exit (code if given), and
    stderr matching pattern."""
    want = "exit %d" % code if code is not None else "exit > 0"
    t.ok(not r.started and r.rc is not None and r.rc > 0 and
         (code is None or r.rc == code) and r.secs < QUICK,
         "%s: refused quickly, %s (no signal)" % (name, want), r)
    t.ok(re.search(pattern, r.err, re.M) is not None,
         "%s: stderr names the cause" % name,
         "%s\nwant match: %r" % (r, pattern))


def config_text(gw, drop=(), add=()):
    """The gateway's configuration without the keys in drop, then the raw
    lines in add; returns (text, {line text: line number})."""
    lines = ["%s = %s" % kv for kv in gw.settings().items()
             if kv[0] not in drop]
    lines += list(add)
    numbers = {line: i + 1 for i, line in enumerate(lines)}
    return "".join(line + "\n" for line in lines), numbers


def line_of(gw, key):
    return list(gw.settings()).index(key) + 1


# --- tests -------------------------------------------------------------


def test_config_errors():
    with Gateway() as gw:
        conf = re.escape(gw.conf)
        n = len(gw.settings())
        cases = [
            ("unknown key", (), ["bogus_key = 1"],
             r"%s:%d: key 'bogus_key': unknown key$" % (conf, n + 1)),
            ("not a number", ("network_threads",),
             ["network_threads = lots"],
             r"%s:%d: key 'network_threads': invalid value 'lots': "
             r"expected a whole number$" % (conf, n)),
            ("out of range", ("network_threads",), ["network_threads = 65"],
             r"%s:%d: key 'network_threads': invalid value '65': out of "
             r"range \(0 to 64\)$" % (conf, n)),
            ("bad boolean", ("dev_demo_accounts",),
             ["dev_demo_accounts = maybe"],
             r"%s:%d: key 'dev_demo_accounts': invalid value 'maybe': "
             r"expected yes or no$" % (conf, n)),
            ("bad size", ("store_map_size",), ["store_map_size = 12parsecs"],
             r"%s:%d: key 'store_map_size': invalid value '12parsecs': "
             r"expected a size" % (conf, n)),
            ("bad port", ("smtp_submission_listen",),
             ["smtp_submission_listen = 127.0.0.1:99999"],
             r"%s:%d: key 'smtp_submission_listen': invalid value "
             r"'127\.0\.0\.1:99999': port must be a number from 1 to 65535$"
             % (conf, n)),
            ("TLS 1.1 floor", (), ["tls_min_version = TLSv1.1"],
             r"%s:%d: key 'tls_min_version': invalid value 'TLSv1\.1': "
             r"expected TLSv1\.2 or TLSv1\.3$" % (conf, n + 1)),
            ("line without '='", (), ["log_level debug"],
             r"%s:%d: expected 'key = value'$" % (conf, n + 1)),
            ("duplicate key", (), ["log_level = debug"],
             r"%s:%d: key 'log_level': already set at line %d$"
             % (conf, n + 1, line_of(gw, "log_level"))),
            ("empty TLS 1.3 suites with a TLS 1.3 floor", (),
             ["tls_min_version = TLSv1.3", "tls13_ciphersuites ="],
             r"%s:%d: key 'tls13_ciphersuites': empty while tls_min_version "
             r"is TLSv1\.3$" % (conf, n + 2)),
        ]
        for name, drop, add, pattern in cases:
            text, _ = config_text(gw, drop, add)
            gw.write_config(text)
            refused(daemon(gw), "mssgated, " + name,
                    r"^mssgated: " + pattern, EX_CONFIG)
            refused(cli(gw, "check-config"), "check-config, " + name,
                    r"^mssgate: " + pattern, EX_CONFIG)
        gw.conf = os.path.join(gw.tmp, "no-such.conf")
        refused(daemon(gw), "mssgated, missing configuration file",
                r"^mssgated: %s: cannot open: No such file or directory$"
                % re.escape(gw.conf), EX_CONFIG)
        refused(cli(gw, "check-config"),
                "check-config, missing configuration file",
                r"^mssgate: %s: cannot open: No such file or directory$"
                % re.escape(gw.conf), EX_CONFIG)
        t.ok(not os.path.exists(gw.data) and not os.path.exists(gw.certs),
             "refused configurations created neither data_dir nor certs_dir",
             os.listdir(gw.tmp))


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True,
                   timeout=TIMEOUT)


def self_signed(folder, name, start, end):
    """A self-signed certificate for localhost valid from start to end
    (YYYYMMDDHHMMSSZ), made with `openssl ca` (OpenSSL 3.0 has no
    -not_before/-not_after in req or x509)."""
    ca = os.path.join(folder, "ca-" + name)
    os.mkdir(ca)
    key = os.path.join(folder, name + ".key")
    crt = os.path.join(folder, name + ".crt")
    csr = os.path.join(ca, "req.csr")
    with open(os.path.join(ca, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\n"
                "new_certs_dir = %s\nserial = %s/serial\ndefault_md = sha256\n"
                "policy = p\nunique_subject = no\n[p]\ncommonName = supplied\n"
                % (ca, ca, ca))
    open(os.path.join(ca, "index.txt"), "w").close()
    with open(os.path.join(ca, "serial"), "w") as f:
        f.write("01\n")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=localhost")
    openssl("ca", "-batch", "-config", os.path.join(ca, "ca.cnf"),
            "-selfsign", "-keyfile", key, "-in", csr, "-out", crt,
            "-startdate", start, "-enddate", end, "-notext")
    return crt, key


def test_tls_file_errors():
    with Gateway() as gw:
        r = daemon(gw, "-t")
        if not t.ok(r.rc == 0, "setup: mssgated -t creates the development "
                    "certificate", r):
            return
        cert = os.path.join(gw.certs, "server.crt")
        key = os.path.join(gw.certs, "server.key")

        def case(name, pattern, **files):
            text, _ = config_text(gw, drop=files, add=[
                "%s = %s" % kv for kv in files.items()])
            gw.write_config(text)
            refused(start(gw), "mssgated, " + name, r"^mssgated: " +
                    pattern, EX_CONFIG)
            if files.get("tls_dev_ca") != "yes":
                refused(cli(gw, "check-config"), "check-config, " + name,
                        r"^mssgate: " + pattern, EX_CONFIG)

        garbage = os.path.join(gw.tmp, "garbage.key")
        with open(garbage, "wb") as f:
            f.write(b"-----BEGIN PRIVATE KEY-----\nthis is not a key\n"
                    b"-----END PRIVATE KEY-----\n" + os.urandom(512))
        os.chmod(garbage, 0o600)
        case("private key file with garbage",
             r"TLS: %s: cannot load the private key" % re.escape(garbage),
             tls_key_file=garbage)

        other = os.path.join(gw.tmp, "other.key")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                "rsa_keygen_bits:2048", "-out", other)
        # OpenSSL already compares the key with the certificate while
        # loading it, so either sentence names the cause.
        case("key that does not match the certificate",
             r"TLS: %s: (the private key does not match the certificate "
             r"%s$|cannot load the private key: .*key values mismatch)"
             % (re.escape(other), re.escape(cert)), tls_key_file=other)

        old_crt, old_key = self_signed(gw.tmp, "expired", "20200101000000Z",
                                       "20200201000000Z")
        case("expired certificate",
             r"TLS: %s: certificate has expired$" % re.escape(old_crt),
             tls_dev_ca="no", tls_cert_file=old_crt, tls_key_file=old_key)

        new_crt, new_key = self_signed(gw.tmp, "future", "20990101000000Z",
                                       "20991231000000Z")
        case("certificate not yet valid",
             r"TLS: %s: certificate is not yet valid$" % re.escape(new_crt),
             tls_dev_ca="no", tls_cert_file=new_crt, tls_key_file=new_key)

        bad_crt = os.path.join(gw.tmp, "garbage.crt")
        with open(bad_crt, "wb") as f:
            f.write(os.urandom(700))
        case("certificate file with garbage",
             r"TLS: %s: cannot load the certificate" % re.escape(bad_crt),
             tls_dev_ca="no", tls_cert_file=bad_crt)

        missing = os.path.join(gw.tmp, "missing.crt")
        case("missing certificate file",
             r"TLS: %s: cannot (load|read) the certificate.*No such file or "
             r"directory" % re.escape(missing),
             tls_dev_ca="no", tls_cert_file=missing)

        lone = os.path.join(gw.tmp, "lone.key")
        case("development CA with only the certificate present",
             r"development CA: %s exists but %s is missing$"
             % (re.escape(cert), re.escape(lone)),
             tls_dev_ca="yes", tls_key_file=lone)
        t.ok(not os.path.exists(lone),
             "the development CA did not write the missing half of the pair")

        # Control: the untouched configuration still starts.
        gw.write_config()
        r = daemon(gw, "-t")
        t.eq(r.rc, 0, "control: the original certificate and key pass -t")


def test_store_key_errors():
    with Gateway() as gw:
        gw.start()
        gw.add_user("keeper@" + gw.domain)
        gw.stop()
        key_file = os.path.join(gw.certs, "store.key")
        with open(key_file, "rb") as f:
            good = f.read()
        k = re.escape(key_file)

        def restore():
            if os.path.isdir(key_file):
                shutil.rmtree(key_file)
            with open(key_file, "wb") as f:
                f.write(good)
            os.chmod(key_file, 0o600)

        def write_key(data, mode=0o600):
            os.unlink(key_file)
            with open(key_file, "wb") as f:
                f.write(data)
            os.chmod(key_file, mode)

        cases = [
            ("store key is a directory",
             lambda: (os.unlink(key_file), os.mkdir(key_file, 0o700)),
             r"store key %s: not a regular file$" % k),
            ("store key of 31 bytes",
             lambda: write_key(good[:31]),
             r"store key %s: expected 32 bytes, found 31$" % k),
            ("store key of 64 bytes",
             lambda: write_key(good + good),
             r"store key %s: expected 32 bytes, found 64$" % k),
            ("store key with mode 0644",
             lambda: os.chmod(key_file, 0o644),
             r"store key %s: permissions 0644 are too open" % k),
            ("another valid 32-byte key",
             lambda: write_key(os.urandom(32)),
             r"store key %s does not match the store in %s$"
             % (k, re.escape(gw.data))),
            ("store key missing",
             lambda: os.unlink(key_file),
             r"store key %s is missing, but %s holds data sealed with a key"
             % (k, re.escape(gw.data))),
        ]
        for name, damage, pattern in cases:
            damage()
            refused(start(gw), "mssgated, " + name, r"^mssgated: " + pattern)
            if name == "store key missing":
                t.ok(not os.path.exists(key_file),
                     "a missing store key is not replaced by a new one")
            refused(cli(gw, "user", "list"), "mssgate user list, " + name,
                    r"^mssgate: " + pattern, EX_UNAVAILABLE)
            restore()

        # Control: with the right key the store opens and still holds the
        # account.
        r = cli(gw, "user", "list")
        t.ok(r.rc == 0 and "keeper@" + gw.domain in r.out,
             "control: the restored key opens the store with its account", r)


def test_corrupt_store():
    with Gateway() as gw:
        gw.start()
        gw.add_user("keeper@" + gw.domain)
        gw.stop()
        data_mdb = os.path.join(gw.data, "data.mdb")
        with open(data_mdb, "rb") as f:
            pristine = f.read()
        t.ok(len(pristine) >= 3 * 4096, "setup: data.mdb holds %d bytes"
             % len(pristine))

        def overwrite_head():
            with open(data_mdb, "r+b") as f:
                f.write(os.urandom(4096))

        def truncate_half():
            os.truncate(data_mdb, len(pristine) // 2)

        def truncate_zero():
            os.truncate(data_mdb, 0)

        store_re = (r"store %s: cannot open: the data file is corrupt"
                    % re.escape(gw.data))
        cases = [
            ("first 4 KiB of data.mdb overwritten", overwrite_head,
             store_re),
            ("data.mdb truncated to half its size", truncate_half,
             r"(store %s|data\.mdb)" % re.escape(gw.data)),
            # An empty data.mdb beside an existing store key is a lost
            # store, not a new one: the accounts must not vanish silently.
            ("data.mdb truncated to zero bytes", truncate_zero,
             r"(store %s|data\.mdb)" % re.escape(gw.data)),
        ]

        def reset():
            with open(data_mdb, "wb") as f:
                f.write(pristine)

        for name, damage, pattern in cases:
            reset()
            damage()
            refused(start(gw), "mssgated, " + name, r"^mssgated: " + pattern)
            reset()
            damage()
            refused(daemon(gw, "-t"), "mssgated -t, " + name,
                    r"^mssgated: " + pattern)
            reset()
            damage()
            refused(cli(gw, "user", "list"), "mssgate user list, " + name,
                    r"^mssgate: " + pattern, EX_UNAVAILABLE)

        reset()
        r = cli(gw, "user", "list")
        t.ok(r.rc == 0 and "keeper@" + gw.domain in r.out,
             "control: the pristine data.mdb opens with its account", r)


def test_port_in_use():
    with Gateway() as gw:
        for label, port in (("STARTTLS", gw.port_sub),
                            ("implicit TLS", gw.port_subs)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
                s.listen(1)
                r = start(gw)
            finally:
                s.close()
            refused(r, "%s port %d already in use" % (label, port),
                    r"^mssgated: cannot listen on 127\.0\.0\.1:%d: Address "
                    r"already in use$" % port)
        # Control: with both ports free it starts.
        gw.start()
        t.ok(gw.stop() == 0, "control: with the ports free it starts and "
             "stops with 0")


def test_check_and_dump():
    with Gateway() as gw:
        r = daemon(gw, "-n")
        settings = gw.settings()
        want = {k: v for k, v in settings.items()
                if k not in ("hostname", "log_level")}
        want["store_map_size"] = str(1 << 30)
        want["auth_fail_delay"] = "0"
        got = dict(re.findall(r"^(\w+) = (.*)$", r.out, re.M))
        t.ok(r.rc == 0 and got == want and
             len(r.out.splitlines()) == len(want),
             "mssgated -n prints exactly the changed settings",
             "%s\nwant: %r\ngot:  %r" % (r, want, got))
        t.ok(not os.path.exists(gw.certs) and not os.path.exists(gw.data),
             "mssgated -n creates nothing", os.listdir(gw.tmp))

        gw.write_config("# nothing changed\n\n")
        r = daemon(gw, "-n")
        t.ok(r.rc == 0 and r.out == "",
             "mssgated -n on a configuration without settings prints "
             "nothing", r)
        gw.write_config()

        r = daemon(gw, "-t")
        t.ok(r.rc == 0 and re.search(r"^mssgated: configuration %s is valid$"
                                     % re.escape(gw.conf), r.out, re.M),
             "mssgated -t validates a good configuration (exit 0)", r)
        t.ok(os.path.isfile(os.path.join(gw.certs, "server.crt")) and
             os.path.isfile(os.path.join(gw.certs, "store.key")) and
             os.path.isfile(os.path.join(gw.data, "data.mdb")),
             "mssgated -t prepared the certificate, store key and store",
             os.listdir(gw.tmp))
        r = daemon(gw, "-t")
        t.eq(r.rc, 0, "mssgated -t passes again with the files it made")

        r = run([MSSGATED, "-x"])
        t.ok(r.rc == EX_USAGE and re.search(r"^usage: mssgated", r.err,
                                            re.M),
             "mssgated with an unknown option prints its usage, exit 64", r)


run_tests(t, test_config_errors, test_tls_file_errors, test_store_key_errors,
          test_corrupt_store, test_port_in_use, test_check_and_dump)
