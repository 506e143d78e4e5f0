# SPDX-License-Identifier: MIT
"""config/mssgate.conf documents every key with its true default: with
all its commented settings switched on, it gives exactly the embedded
defaults, and it names every key the daemon knows, no more, no less.
"""

import os
import re
import subprocess
import tempfile

from mssgate_test import MSSGATE, SRCDIR, Tap, run_tests

t = Tap()


def show(*args):
    p = subprocess.run([MSSGATE] + list(args) + ["config", "show"],
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_sample_matches_defaults():
    rc, defaults, err = show()
    t.eq(rc, 0, "mssgate config show (embedded defaults)")
    default_keys = [l.split(" = ")[0] for l in defaults.splitlines()]
    sample = open(os.path.join(SRCDIR, "config", "mssgate.conf")).read()
    settings = re.findall(r"(?m)^# ([a-z0-9_]+) =(.*)$", sample)
    keys = [k for k, _ in settings]
    t.eq(sorted(set(keys)), sorted(default_keys),
         "the sample names every key, and only known keys")
    t.eq(len(keys), len(set(keys)), "each key documented once")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sample.conf")
        with open(path, "w") as f:
            for k, v in settings:
                f.write("%s =%s\n" % (k, v))
        rc, got, err = show("-c", path)
        t.eq(rc, 0, "the uncommented sample loads", )
        t.eq(got, defaults, "the uncommented sample equals the defaults")
        p = subprocess.run([MSSGATE, "-c", path, "check-config"],
                           capture_output=True, timeout=30, cwd=d)
        t.eq(p.returncode, 0, "check-config accepts the sample")


run_tests(t, test_sample_matches_defaults)
