#!/usr/bin/env python3
"""check_runtime.py - does a package list cover every shared library some binaries load?

Usage: check_runtime.py --packages LIST BINARY...

For each binary, ldd names the libraries it loads; dpkg -S names the
package of each. Every such package must be in LIST, a dependency (at any
depth) of a package in LIST, or Essential (in every Debian image). Run on
the build machine (Debian bookworm, like the image), so the answer is the
one `apt-get install $(LIST)` in the runtime stage gives. Exit 1 and name
the libraries not covered.
"""
import argparse
import os
import re
import subprocess
import sys


def read_list(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def query(pkg, field):
    r = subprocess.run(["dpkg-query", "-W", "-f=${%s}" % field, pkg], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def installed(pkg):
    return (query(pkg, "Status") or "").endswith("installed")


def closure(roots):
    """Packages apt installs for roots: Pre-Depends and Depends, recursively;
    of alternatives (a | b), the first installed one (all is what dpkg knows)."""
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        deps = ",".join(filter(None, [query(p, "Pre-Depends"), query(p, "Depends")]))
        for clause in deps.split(","):
            alts = [re.sub(r"[ (].*", "", a.strip()).split(":")[0] for a in clause.split("|") if a.strip()]
            pick = next((a for a in alts if installed(a)), alts[0] if alts else None)
            if pick:
                todo.append(pick)
    return seen


def libraries(binary):
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("check_runtime: ldd %s: %s" % (binary, r.stderr.strip()))
    libs = []
    for line in r.stdout.splitlines():
        if "not found" in line:
            raise SystemExit("check_runtime: %s: %s" % (binary, line.strip()))
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs


def package_of(path):
    # dpkg records the path it unpacked; /lib is a symlink to /usr/lib
    # (merged /usr), and alternatives (libopenblas.so.0) are symlinks too.
    for p in dict.fromkeys([path, os.path.realpath(path)]):
        for cand in (p, p[4:] if p.startswith("/usr/") else "/usr" + p):
            r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if r.returncode == 0:
                return r.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", required=True)
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    wanted = read_list(a.packages)
    missing = [p for p in wanted if query(p, "Version") is None]
    if missing:
        print("check_runtime: not Debian packages known here: %s" % " ".join(missing), file=sys.stderr)
        return 1
    covered = closure(wanted)
    bad = []
    for b in a.binaries:
        for lib in libraries(b):
            pkg = package_of(lib)
            if pkg is None:
                bad.append("%s: %s belongs to no package" % (os.path.basename(b), lib))
            elif pkg not in covered and query(pkg, "Essential") != "yes":
                bad.append("%s: %s (package %s) is not installed by the list" % (os.path.basename(b), lib, pkg))
    for line in bad:
        print("check_runtime: " + line, file=sys.stderr)
    if not bad:
        print("check_runtime: %d binaries, every library covered by %d listed packages"
              % (len(a.binaries), len(wanted)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
