#!/usr/bin/env python3
"""Runs the README's tour as written, so that it cannot drift from what the programs do.

    readme_tour.py SOURCE_DIR BIN_DIR

The README's command blocks from "A five-minute tour" up to "What happens under failure" run in
order in a scratch copy of the repository's scripts and manifests (build/bin links to BIN_DIR),
against a local cluster on 127.0.X.1 instead of 127.0.0.1 (X reserved like the C++ cluster tests
do, so that a cluster a developer runs on 127.0.0.1 is left alone):
- ```sh blocks run line by line in bash; each command must succeed. `tools/build` is skipped (the
  test runs on a built tree). A comment after `kvsh ... -c '...'` is the expected last line of its
  output, and a comment holding a JSON object after a curl command is expected in its output.
- `build/bin/kvsh --connect ...` without -c opens the shell in a pseudo-terminal, and the next
  plain ``` block is its transcript: each `kvsh> COMMAND` is typed, and the lines below it must be
  what the shell prints. `...` ends the comparison of a reply; context hex, peers' clock offsets,
  anti-entropy rounds, view fingerprints and the memory budget's figures may differ. Contexts in
  commands (hex, or `<that context>`) are replaced by the last context the shell printed, and
  `<X-Context of the get>` by the last X-Context header curl printed.
Every node started is stopped by PID (tools/cluster stop) and the scratch copy removed.
"""
import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import termios
import time

from loopback import reserve_octet

FIRST_SECTION = "## A five-minute tour"
END_SECTION = "## What happens under failure"
COMMAND_TIMEOUT = 180  # seconds; a join with --wait streams partitions
FUZZY_PREFIXES = ("anti-entropy:", "view fingerprint:", "clock:", "memory budget:",
                  "background work:", "tombstones collected:")


class TourFailure(Exception):
    pass


def blocks_of(readme):
    """(info, lines, first line number) of each fenced block between the tour's sections."""
    text = readme.split("\n")
    inside = False
    blocks = []
    current = None
    for number, line in enumerate(text, 1):
        if line.startswith(FIRST_SECTION):
            inside = True
        elif line.startswith(END_SECTION):
            break
        if not inside:
            continue
        if line.startswith("```"):
            if current is None:
                current = (line[3:].strip(), [], number + 1)
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current[1].append(line)
    return blocks


def logical_lines(lines):
    """Joins backslash continuations; drops blank lines and whole-line comments."""
    out, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.strip() and not line.strip().startswith("#"):
            out.append(line)
    return out


def split_comment(line):
    """The command and its trailing comment (a # outside quotes after two spaces)."""
    m = re.search(r"\s{2,}#\s?(.*)$", line)
    if m and line[: m.start()].count("'") % 2 == 0 and line[: m.start()].count('"') % 2 == 0:
        return line[: m.start()].rstrip(), m.group(1).strip()
    return line.rstrip(), ""


class Tour:
    def __init__(self, source, bin_dir, work, octet):
        self.source, self.bin_dir, self.work, self.octet = source, bin_dir, work, octet
        self.cwd = work
        self.env = dict(os.environ, HOME=os.path.join(work, "home"), TERM="dumb")
        for name in ("ACTORKV_CA", "ACTORKV_CERT", "ACTORKV_KEY"):
            self.env.pop(name, None)
        self.last_context = None
        self.last_x_context = None
        self.shell_pending = None  # the kvsh command line waiting for its transcript

    def here(self, text):
        return text.replace("127.0.0.1", "127.0.%d.1" % self.octet)

    def prepare(self):
        os.makedirs(self.env["HOME"])
        shutil.copy(os.path.join(self.source, "README.md"), self.work)
        shutil.copytree(os.path.join(self.source, "tools"), os.path.join(self.work, "tools"))
        shutil.copytree(os.path.join(self.source, "cluster-config"),
                        os.path.join(self.work, "cluster-config"))
        os.makedirs(os.path.join(self.work, "build"))
        os.symlink(self.bin_dir, os.path.join(self.work, "build", "bin"))
        for name in os.listdir(os.path.join(self.work, "cluster-config")):
            path = os.path.join(self.work, "cluster-config", name)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(self.here(text))

    def substitute(self, command):
        if "<X-Context of the get>" in command:
            if not self.last_x_context:
                raise TourFailure("no X-Context was printed before: " + command)
            command = command.replace("<X-Context of the get>", self.last_x_context)
        if "<that context>" in command or re.search(r"\b[0-9a-f]{40,}\b", command):
            if not self.last_context:
                raise TourFailure("no context was printed before: " + command)
            command = command.replace("<that context>", self.last_context)
            command = re.sub(r"\b[0-9a-f]{40,}\b", self.last_context, command)
        return self.here(command)

    def run_line(self, line, where):
        command, comment = split_comment(line)
        if command.strip() == "tools/build":
            return
        words = shlex.split(command)
        if words[0] == "cd":
            self.cwd = os.path.normpath(os.path.join(self.cwd, words[1]))
            return
        if words[:2] == ["eval", "$(tools/cluster env)"] or command.startswith("eval "):
            exports = self.bash(command.split("$(", 1)[1].rsplit(")", 1)[0], where)
            for name, value in re.findall(r"(ACTORKV_\w+)=(\S+)", exports):
                self.env[name] = value
            return
        if words[0].endswith("kvsh") and "-c" not in words:
            self.shell_pending = (self.substitute(command), where)
            return
        output = self.bash(self.substitute(command), where)
        for context in re.findall(r"^X-Context: (\S+)", output, re.M | re.I):
            self.last_x_context = context.strip()
        if comment and words[0].endswith("kvsh"):
            last = output.strip().split("\n")[-1].strip() if output.strip() else ""
            if last != comment:
                raise TourFailure("%s: `%s` printed %r, the README says %r"
                                  % (where, command, output, comment))
        elif comment.startswith("{") and words[0] == "curl":
            expected = json.loads(comment[: comment.index("}") + 1])
            body = output.strip().split("\n")[-1]
            try:
                got = json.loads(body)
            except ValueError:
                raise TourFailure("%s: `%s` printed %r, not JSON" % (where, command, output))
            if got != expected:
                raise TourFailure("%s: `%s` printed %r, the README says %r"
                                  % (where, command, got, expected))

    def bash(self, command, where):
        print("$ " + command, flush=True)
        run = subprocess.run(["bash", "-c", command], cwd=self.cwd, env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=COMMAND_TIMEOUT)
        output = run.stdout.decode(errors="replace")
        print(output if output.endswith("\n") or not output else output + "\n", end="",
              flush=True)
        if run.returncode != 0:
            raise TourFailure("%s: `%s` exited %d" % (where, command, run.returncode))
        return output

    def transcript(self, lines, first_line):
        if not self.shell_pending:
            raise TourFailure("line %d: a transcript without a shell opened before it" % first_line)
        command, where = self.shell_pending
        self.shell_pending = None
        print("$ " + command + "   (in a pseudo-terminal)", flush=True)
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        shell = subprocess.Popen(["bash", "-c", "exec " + command], cwd=self.cwd, env=self.env,
                                 stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        try:
            banner = self.read_reply(master, where)
            print(banner, end="", flush=True)
            steps = []  # (command, expected lines, README line)
            for offset, line in enumerate(lines):
                if line.startswith("kvsh> "):
                    steps.append((line[len("kvsh> "):], [], first_line + offset))
                elif steps:
                    steps[-1][1].append(line)
            for typed, expected, number in steps:
                typed = self.substitute(split_comment(typed)[0])
                print("kvsh> " + typed, flush=True)
                os.write(master, (typed + "\n").encode())
                reply = self.read_reply(master, "README line %d" % number)
                print(reply, end="", flush=True)
                self.compare(reply.split("\n")[:-1], expected, number, typed)
                for context in re.findall(r"^context: ([0-9a-f]+)$", reply, re.M):
                    self.last_context = context
            os.write(master, b"\x04")  # Ctrl-D leaves
            shell.wait(timeout=30)
        finally:
            if shell.poll() is None:
                shell.kill()
                shell.wait()
            os.close(master)

    def read_reply(self, master, where):
        data = b""
        deadline = time.time() + COMMAND_TIMEOUT
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            if data.endswith(b"kvsh> "):
                return data[: -len("kvsh> ")].decode(errors="replace").replace("\r\n", "\n")
        raise TourFailure("%s: the shell did not answer within %d s; it printed %r"
                          % (where, COMMAND_TIMEOUT, data))

    def compare(self, got, expected, number, typed):
        expected = [self.here(line) for line in expected]
        for i, want in enumerate(expected):
            if want.strip() == "...":
                return
            have = got[i] if i < len(got) else "(nothing)"
            if not self.same(have, want):
                raise TourFailure("README line %d: `%s` printed\n%s\nwhere the README says\n%s"
                                  % (number, typed, "\n".join(got), "\n".join(expected)))
        if len(got) > len(expected):
            raise TourFailure("README line %d: `%s` printed more than the README shows:\n%s"
                              % (number, typed, "\n".join(got)))

    @staticmethod
    def same(have, want):
        normal = lambda s: " ".join(s.split())
        have, want = normal(have), normal(want)
        if have == want:
            return True
        if want.startswith("context: ") and re.fullmatch(r"context: [0-9a-f]+", have):
            return True
        return any(want.startswith(p) and have.startswith(p) for p in FUZZY_PREFIXES)

    def run(self, readme):
        blocks = blocks_of(readme)
        if not blocks:
            raise TourFailure("no command blocks between %r and %r" % (FIRST_SECTION, END_SECTION))
        for info, lines, first in blocks:
            if info == "sh":
                for offset, line in enumerate(logical_lines(lines)):
                    self.run_line(line, "README block at line %d" % first)
            elif info == "":
                self.transcript(lines, first)
        if self.shell_pending:
            raise TourFailure("%s: a shell without a transcript after it" % self.shell_pending[1])

    def stop(self):
        # tools/cluster stops exactly the PIDs it recorded, the added nodes' too.
        subprocess.run(["bash", "tools/cluster", "stop"], cwd=self.work, env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    source, bin_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    octet, reservation = reserve_octet()
    work = tempfile.mkdtemp(prefix="actorkv-tour-")
    tour = Tour(source, bin_dir, work, octet)
    try:
        tour.prepare()
        with open(os.path.join(source, "README.md")) as f:
            tour.run(f.read())
        print("the README's tour ran as written", flush=True)
        return 0
    except (TourFailure, subprocess.TimeoutExpired) as failure:
        print("FAILED: %s" % failure, flush=True)
        for log in sorted(os.listdir(os.path.join(work, "run", "local-3"))
                          if os.path.isdir(os.path.join(work, "run", "local-3")) else []):
            if log.endswith(".log"):
                with open(os.path.join(work, "run", "local-3", log)) as f:
                    tail = f.read().split("\n")[-8:]
                print("--- last lines of %s:\n%s" % (log, "\n".join(tail)), flush=True)
        return 1
    finally:
        tour.stop()
        shutil.rmtree(work, ignore_errors=True)
        reservation.close()


if __name__ == "__main__":
    sys.exit(main())
