# SPDX-License-Identifier: MIT
"""Signals and process life: SIGHUP reloads the configuration and the
server certificate without dropping sessions (an open session keeps
working, a new one sees the new certificate and settings; a broken
configuration is refused and the old one kept); SIGTERM stops accepting,
lets a transaction in flight finish with 250, tells idle clients 421 and
exits 0 with the message committed; -d daemonizes with a pid file; with
run_as_user the daemon serves mail as that user, not as root.
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import time

from mssgate_test import Gateway, Tap, run_tests, login_plain, MSSGATED

t = Tap()


def peer_cert(gw):
    s = socket.create_connection(("127.0.0.1", gw.port_subs), timeout=10)
    s = gw.ssl_context().wrap_socket(s, server_hostname="localhost")
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


def pem_to_der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


def issue_cert(gw, name):
    key = os.path.join(gw.tmp, name + ".key")
    csr = os.path.join(gw.tmp, name + ".csr")
    crt = os.path.join(gw.tmp, name + ".crt")
    ext = os.path.join(gw.tmp, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-subj", "/CN=localhost/O=rotated",
                    "-out", csr], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", gw.ca,
                    "-CAkey", os.path.join(gw.certs, "ca.key"),
                    "-CAcreateserial", "-days", "30", "-extfile", ext,
                    "-out", crt], check=True, capture_output=True)
    return crt, key


def wait_log(gw, text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in gw.log_text():
            return True
        time.sleep(0.05)
    return False


def test_sighup_rotation_and_reload():
    with Gateway() as gw:
        gw.start()
        alice = "alice@" + gw.domain
        pw = gw.add_user(alice)
        old_der = peer_cert(gw)
        t.eq(old_der, pem_to_der(os.path.join(gw.certs, "server.crt")),
             "before: the configured certificate is served")
        open_session = gw.smtp(implicit=True, login=alice, password=pw)

        crt, key = issue_cert(gw, "rotated")
        os.replace(key, os.path.join(gw.certs, "server.key"))
        os.replace(crt, os.path.join(gw.certs, "server.crt"))
        gw.extra["smtp_max_message_size"] = "2M"
        gw.write_config()
        gw.proc.send_signal(signal.SIGHUP)
        t.ok(wait_log(gw, "daemon reloaded"), "reload logged")

        msg = ("From: %s\r\nSubject: after reload\r\n\r\nstill here\r\n"
               % alice).encode()
        t.eq(open_session.sendmail(alice, [alice], msg), {},
             "a session opened before SIGHUP keeps working")
        open_session.quit()
        new_der = peer_cert(gw)
        t.ok(new_der != old_der and new_der ==
             pem_to_der(os.path.join(gw.certs, "server.crt")),
             "a new session gets the new certificate")
        c = gw.smtp()
        t.eq(c.esmtp_features.get("size"), str(2 * 1024 * 1024),
             "a new session uses the reloaded settings (SIZE 2M)")
        c.quit()

        gw.write_config("this is not a configuration\n")
        gw.proc.send_signal(signal.SIGHUP)
        t.ok(wait_log(gw, "reload refused"),
             "a broken configuration is refused on reload")
        t.ok(gw.proc.poll() is None, "the daemon keeps running")
        c = gw.smtp(login=alice, password=pw)
        t.eq(c.esmtp_features.get("size"), str(2 * 1024 * 1024),
             "and keeps the last good settings")
        c.quit()
        gw.write_config()
        t.eq(gw.stop(), 0, "SIGTERM: exit 0")


def test_sigterm_graceful():
    with Gateway(extra={"shutdown_grace": "20s"}) as gw:
        gw.start()
        alice = "alice@" + gw.domain
        pw = gw.add_user(alice)
        idle = gw.raw()
        idle.reply()
        busy = gw.raw(implicit=True)
        busy.reply()
        busy.cmd("EHLO client.test")
        busy.cmd("AUTH PLAIN " + login_plain(alice, pw))
        busy.cmd("MAIL FROM:<%s>" % alice)
        busy.cmd("RCPT TO:<%s>" % alice)
        t.eq(busy.cmd("DATA")[0], 354, "transaction in DATA")
        busy.send(("From: %s\r\nSubject: in flight\r\n\r\nfirst half\r\n"
                   % alice).encode())
        time.sleep(0.2)
        gw.proc.send_signal(signal.SIGTERM)
        code, lines = idle.reply()
        t.ok(code == 421 and lines[0].startswith("4.3.2"),
             "idle session told 421 4.3.2", (code, lines))
        t.ok(idle.closed(), "idle session closed")
        time.sleep(0.3)
        try:
            s = socket.create_connection(("127.0.0.1", gw.port_sub),
                                         timeout=2)
            data = s.recv(100)
            s.close()
            refused = not data.startswith(b"220")
        except OSError:
            refused = True
        t.ok(refused, "no new session is served while stopping")
        t.ok(gw.proc.poll() is None, "daemon waits for the transaction")
        busy.send(b"second half\r\n.\r\n")
        code, lines = busy.reply()
        t.ok(code == 250, "the transaction in flight completes: 250",
             (code, lines))
        code, lines = busy.reply()
        t.eq(code, 421, "then 421 and close")
        rc = gw.proc.wait(20)
        gw.proc = None
        gw.logf.close()
        t.eq(rc, 0, "daemon exits 0")
        msgs = gw.messages(alice)
        t.eq(len(msgs), 1, "the message is committed")
        t.ok(gw.message(alice, msgs[0]["uid"]).endswith(
            b"first half\r\nsecond half\r\n"), "and complete")


def test_daemonize_pidfile():
    with Gateway() as gw:
        pidfile = os.path.join(gw.tmp, "mssgated.pid")
        gw.extra["pid_file"] = pidfile
        gw.write_config()
        p = subprocess.run([MSSGATED, "-d", "-c", gw.conf],
                           capture_output=True, timeout=30)
        t.eq(p.returncode, 0, "mssgated -d returns 0 to its caller")
        deadline = time.time() + 10
        while not os.path.exists(pidfile) and time.time() < deadline:
            time.sleep(0.05)
        text = open(pidfile).read()
        t.ok(re.fullmatch(r"[0-9]+\n", text) is not None,
             "pid file written whole", repr(text))
        pid = int(text)
        gw.extra_pids = [pid]
        alice = "alice@" + gw.domain
        pw = gw.add_user(alice)
        ok = False
        for _ in range(100):
            try:
                c = gw.smtp(login=alice, password=pw)
                ok = c.sendmail(alice, [alice], b"From: %s\r\n\r\nx\r\n"
                                % alice.encode()) == {}
                c.quit()
                break
            except OSError:
                time.sleep(0.1)
        t.ok(ok, "the background daemon serves mail")
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        gone = False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            gone = True
        t.ok(gone, "SIGTERM stops the background daemon")
        t.ok(not os.path.exists(pidfile), "pid file removed on exit")


def test_run_as_user():
    if os.geteuid() != 0:
        t.ok(True, "# SKIP not root")
        return
    with Gateway(extra={"run_as_user": "nobody"}) as gw:
        os.chmod(gw.tmp, 0o755)
        gw.start()
        status = open("/proc/%d/status" % gw.proc.pid).read()
        uid_line = [l for l in status.splitlines() if l.startswith("Uid:")][0]
        import pwd
        nobody = pwd.getpwnam("nobody").pw_uid
        t.ok(all(int(x) == nobody for x in uid_line.split()[1:]),
             "real, effective and saved uid are nobody", uid_line)
        alice = "alice@" + gw.domain
        pw = gw.add_user(alice)
        c = gw.smtp(login=alice, password=pw)
        t.eq(c.sendmail(alice, [alice], b"From: %s\r\n\r\nx\r\n"
                        % alice.encode()), {},
             "delivery works after dropping privileges")
        c.quit()
        t.eq(gw.stop(), 0, "clean exit as nobody")


run_tests(t, test_sighup_rotation_and_reload, test_sigterm_graceful,
          test_daemonize_pidfile, test_run_as_user)
