#!/usr/bin/env python3
"""The Debian package installs and runs: builds it from BUILD_DIR with cpack, installs it with
dpkg -i into a scratch root (dpkg --root, so nothing on this machine changes), checks what it
put where, then starts three nodes from the installed kvnode and its manifest template (on a
reserved 127.0.X.*), puts and gets a key with the installed kvsh, and stops them by PID.

    package_test.py BUILD_DIR
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from loopback import reserve_octet


class Failure(Exception):
    pass


def run(argv, **kw):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                          **kw)
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise Failure("`%s` exited %d:\n%s" % (" ".join(argv), done.returncode, out))
    return out


def expect(condition, what):
    if not condition:
        raise Failure(what)
    print("ok: " + what, flush=True)


def main():
    build = os.path.abspath(sys.argv[1])
    octet, reservation = reserve_octet()
    work = tempfile.mkdtemp(prefix="actorkv-package-")
    nodes = []
    try:
        run(["cpack", "-G", "DEB", "-B", os.path.join(work, "pkg")], cwd=build)
        debs = glob.glob(os.path.join(work, "pkg", "actorkv_*.deb"))
        expect(len(debs) == 1, "cpack made the actorkv package: %s" % debs)
        expect(glob.glob(os.path.join(work, "pkg", "actorkv-dev_*.deb")),
               "cpack made the actorkv-dev package")
        info = run(["dpkg-deb", "--info", debs[0]])
        expect(re.search(r"Depends:.*libcaf", info) is not None,
               "the package depends on the libraries kvnode links (dpkg-shlibdeps)")

        root = os.path.join(work, "root")
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
            os.makedirs(os.path.join(root, d))
        open(os.path.join(root, "var/lib/dpkg/status"), "w").close()
        # An empty root has none of the dependencies (they are on this machine), and its
        # maintainer scripts run here with DPKG_ROOT set (the postinst then creates no account).
        run(["dpkg", "--root=" + root, "--force-depends", "--force-not-root",
             "--force-script-chrootless", "--log=/dev/null", "-i", debs[0]])
        binaries = ("kvnode", "kvsh", "kvbench", "actorkv-certs")
        expect(all(os.access(os.path.join(root, "usr/bin", b), os.X_OK) for b in binaries),
               "dpkg -i installed %s in /usr/bin" % ", ".join(binaries))
        unit = open(os.path.join(root, "usr/lib/systemd/system/actorkv@.service")).read()
        expect("ExecStart=/usr/bin/kvnode --manifest /etc/actorkv/cluster.toml --node %i" in unit,
               "the systemd unit actorkv@.service runs /usr/bin/kvnode on /etc/actorkv/cluster.toml")
        conffiles = open(os.path.join(root, "var/lib/dpkg/info/actorkv.conffiles")).read()
        expect("/etc/actorkv/cluster.toml" in conffiles, "the manifest is a conffile")
        expect(os.path.isdir(os.path.join(root, "var/lib/actorkv")),
               "the postinst made /var/lib/actorkv")
        version = run([os.path.join(root, "usr/bin/kvnode"), "--version"])
        expect(re.match(r"kvnode \(actorkv\) \d+\.\d+\.\d+", version), "kvnode --version: " +
               version.strip())

        # The template, with this test's addresses and the scratch root's data directory.
        etc = os.path.join(root, "etc/actorkv")
        manifest = open(os.path.join(etc, "cluster.toml")).read()
        hosts = ["127.0.%d.%d" % (octet, i) for i in (1, 2, 3)]
        manifest = re.sub(r'host = "127\.0\.0\.1"', lambda m, it=iter(hosts): 'host = "%s"' % next(it),
                          manifest)
        manifest = manifest.replace('"/var/lib/actorkv/', '"%s/var/lib/actorkv/' % root)
        open(os.path.join(etc, "cluster.toml"), "w").write(manifest)
        run([os.path.join(root, "usr/bin/actorkv-certs"), os.path.join(etc, "certs")] +
            ["n%d@%s" % (i + 1, h) for i, h in enumerate(hosts)])
        for i in (1, 2, 3):
            log = open(os.path.join(work, "n%d.log" % i), "w")
            nodes.append(subprocess.Popen(
                [os.path.join(root, "usr/bin/kvnode"), "--manifest",
                 os.path.join(etc, "cluster.toml"), "--node", "n%d" % i],
                stdout=log, stderr=subprocess.STDOUT))
        env = dict(os.environ, ACTORKV_CA=os.path.join(etc, "certs/ca.crt"),
                   ACTORKV_CERT=os.path.join(etc, "certs/admin.crt"),
                   ACTORKV_KEY=os.path.join(etc, "certs/admin.key"))
        kvsh = [os.path.join(root, "usr/bin/kvsh"), "--connect",
                ",".join(h + ":%d" % (7101 + i) for i, h in enumerate(hosts))]
        deadline = time.time() + 60
        while True:
            done = subprocess.run(kvsh + ["-c", "put installed yes; get installed"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                  timeout=60)
            if done.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        out = done.stdout.decode(errors="replace")
        expect(done.returncode == 0 and out.endswith("yes\n"),
               "the installed kvsh puts and gets through the installed nodes: %r" % out)
        for node in nodes:
            node.send_signal(signal.SIGTERM)
        codes = [node.wait(timeout=60) for node in nodes]
        expect(codes == [0, 0, 0], "the nodes stopped cleanly on SIGTERM: %s" % codes)
        print("the package installs and runs", flush=True)
        return 0
    except (Failure, subprocess.TimeoutExpired, OSError) as failure:
        print("FAILED: %s" % failure, flush=True)
        for log in sorted(glob.glob(os.path.join(work, "n*.log"))):
            print("--- %s:\n%s" % (log, "".join(open(log).readlines()[-6:])), flush=True)
        return 1
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
        shutil.rmtree(work, ignore_errors=True)
        reservation.close()


if __name__ == "__main__":
    sys.exit(main())
