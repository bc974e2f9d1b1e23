#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/run as a supervisor: its processes killed one at a time under load.

Usage: test_run.py BUILD_DIR TOOLS_RUN

Starts tools/run on free loopback ports with a temp PIGEON_VAR_DIR and
PIGEON_BUILD_DIR = BUILD_DIR (compiled, never set up), and two senders that
send continuously, one through pigeon-http (POST /message) and one through
the pigeon CLI, each with an idempotency key per message and switching to
the other path when a send fails, retrying with the same key until the send
is acknowledged.  Meanwhile it SIGKILLs pigeond, then pigeon-http, then
redis-server (pids from the var dir's pid files), and each must come back
within 5 s: a new pid that answers health or PING.  Then the senders stop,
the queue drains, and every acknowledged message must be stored once, with
what was sent, in its final state: delivered, or marked_as_spam for the
blocklisted ones.  Last, SIGTERM stops tools/run: it must exit 0 and leave no
process behind.  On failure it prints tools/run's log and kills everything it
started.  Standard library only; exits 77 (skip) without redis-server.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SENDERS = ['flain1', 'Ilya', 'Dizzzmas']
RECIPIENTS = ['Alice', 'Malory']
# Where each supervised process writes its pid, in tools/run's start order.
PIDFILES = {'redis-server': 'redis.pid', 'pigeond': 'pigeond.pid',
            'pigeon-http': 'pigeon-http.pid'}
COME_BACK_S = 5.0
# Acknowledged sends before each fault and after the last one, so that every
# fault lands in a stream of sends.
ACKS_BETWEEN = 100
FINAL_STATES = ('delivered', 'marked_as_spam')


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def wait_for(cond, seconds, what, every=0.05):
    """Polls cond() until it returns a true value; fails after seconds."""
    end = time.monotonic() + seconds
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= end:
            raise Failure('timed out after %.1f s waiting for %s' % (seconds, what))
        time.sleep(every)


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class Redis:
    """Just enough RESP over the unix socket for PING, GET, HMGET and SCAN."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.r = self.sock.makefile('rb')

    def close(self):
        self.r.close()
        self.sock.close()

    def _reply(self):
        line = self.r.readline()
        if not line.endswith(b'\r\n'):
            raise OSError('connection closed')
        kind, rest = line[:1], line[1:-2]
        if kind == b'+':
            return rest.decode()
        if kind == b'-':
            raise OSError('redis: ' + rest.decode())
        if kind == b':':
            return int(rest)
        if kind == b'$':
            n = int(rest)
            if n < 0:
                return None
            data = self.r.read(n + 2)
            return data[:-2].decode()
        if kind == b'*':
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise OSError('bad reply %r' % line)

    def pipeline(self, cmds):
        out = bytearray()
        for cmd in cmds:
            out += b'*%d\r\n' % len(cmd)
            for a in cmd:
                a = str(a).encode()
                out += b'$%d\r\n%s\r\n' % (len(a), a)
        self.sock.sendall(out)
        return [self._reply() for _ in cmds]

    def call(self, *cmd):
        return self.pipeline([cmd])[0]


def redis_ping(path):
    try:
        r = Redis(path, timeout=1.0)
        try:
            return r.call('PING') == 'PONG'
        finally:
            r.close()
    except OSError:
        return False


class Run:
    """tools/run and what it started: ports, folders, log."""

    def __init__(self, build, tools_run, source):
        self.build = build
        self.tools_run = tools_run
        self.cli = os.path.join(build, 'clients', 'cli', 'pigeon')
        self.tmp = tempfile.mkdtemp(prefix='pigeon-run-')
        self.var = os.path.join(self.tmp, 'var')
        self.log_path = os.path.join(self.tmp, 'run.log')
        self.spam = os.path.join(self.tmp, 'spam.conf')
        # Only the blocklist: rate and flood would turn a steady test sender
        # into a spammer.
        with open(self.spam, 'w') as f:
            f.write('rate.enabled = false\nflood.enabled = false\n'
                    'shape.enabled = false\nblocklist.enabled = true\n'
                    'blocklist.file = %s\n'
                    % os.path.join(source, 'etc', 'spam-blocklist.txt'))
        self.proc = None
        self.seen_pids = set()

    def start(self):
        rpc, pub, http, metrics = free_ports(4)
        self.rpc_url = 'tcp://127.0.0.1:%d' % rpc
        self.listen = '127.0.0.1:%d' % http
        self.metrics = '127.0.0.1:%d' % metrics
        env = dict(os.environ)
        env.pop('PIGEON_REDIS_URL', None)
        env.update({
            'PIGEON_VAR_DIR': self.var,
            'PIGEON_BUILD_DIR': self.build,
            'PIGEON_RPC_URL': self.rpc_url,
            'PIGEON_PUB_URL': 'tcp://127.0.0.1:%d' % pub,
            'PIGEON_HTTP_LISTEN': self.listen,
            'PIGEON_METRICS_LISTEN': self.metrics,
            'PIGEON_SPAM_CONFIG': self.spam,
            'PIGEON_LOG_LEVEL': 'warn',
            # A message held by a killed pigeond's worker is taken over
            # after this idle time (30 s by default).
            'PIGEON_RECLAIM_MS': '1000',
        })
        self.log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen([self.tools_run], env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log_text(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def pid_of(self, name):
        try:
            with open(os.path.join(self.var, PIDFILES[name])) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            return None
        pid = int(text)
        self.seen_pids.add(pid)
        return pid

    def serves(self, name):
        if name == 'redis-server':
            return redis_ping(os.path.join(self.var, 'redis.sock'))
        if name == 'pigeond':
            # Its RPC socket and the metrics that tools/run turns on.
            try:
                if subprocess.run(
                        [self.cli, '--url', self.rpc_url, '--deadline-ms', '1000', 'health'],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        timeout=10).returncode != 0:
                    return False
                with urllib.request.urlopen('http://%s/metrics' % self.metrics,
                                            timeout=2) as r:
                    return r.status == 200 and b'pigeon_rpc_requests_total{' in r.read()
            except (subprocess.TimeoutExpired, OSError, urllib.error.URLError):
                return False
        try:
            with urllib.request.urlopen('http://%s/healthz' % self.listen, timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def up(self):
        """tools/run has said it is ready (its last line before it supervises),
        and every process has a pid file naming a live process that serves."""
        if self.proc.poll() is not None:
            raise Failure('tools/run exited with %d while starting' % self.proc.returncode)
        if 'Ctrl-C stops everything.' not in self.log_text():
            return False
        for name in PIDFILES:
            pid = self.pid_of(name)
            if pid is None or not alive(pid) or not self.serves(name):
                return False
        return True

    def ours(self, pid):
        """pid is a live process that this run's tools/run started: it has
        our PIGEON_VAR_DIR in its environment, or for redis-server, which
        writes its title over it, our folder in its title.  A zombie has
        neither, and a pid used again by someone else's process is never
        taken for ours."""
        try:
            with open('/proc/%d/environ' % pid, 'rb') as f:
                env = f.read().split(b'\0')
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                title = f.read()
        except OSError:
            return False
        return (('PIGEON_VAR_DIR=' + self.var).encode() in env
                or (self.var + '/').encode() in title)

    def left_behind(self):
        for name in PIDFILES:
            self.pid_of(name)
        return sorted(p for p in self.seen_pids if self.ours(p))

    def kill_all(self):
        """After a failure: let tools/run stop its processes, then make sure."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for pid in self.left_behind():
            os.kill(pid, signal.SIGKILL)


class Sender(threading.Thread):
    """Sends messages until told to stop; each one is resent with the same
    key, through whichever path works, until acknowledged."""

    def __init__(self, run, book, first_path):
        super().__init__(daemon=True)
        self.run_ = run
        self.book = book
        self.path = first_path
        self.error = None

    def send_http(self, key, sender, recipient, content):
        body = json.dumps({'sender': sender, 'recipient': recipient,
                           'content': content}).encode()
        req = urllib.request.Request(
            'http://%s/message' % self.run_.listen, data=body, method='POST',
            headers={'Content-Type': 'application/json', 'Idempotency-Key': key})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.loads(r.read())['id'], None
        except urllib.error.HTTPError as e:
            if e.code < 500:
                raise Failure('POST /message answered %d: %s' % (e.code, e.read()))
            return None, 'http %d' % e.code
        except (OSError, http.client.HTTPException, ValueError) as e:
            # Refused, reset or cut short while pigeon-http was killed.
            return None, 'http %s' % type(getattr(e, 'reason', e)).__name__

    def send_cli(self, key, sender, recipient, content):
        try:
            p = subprocess.run(
                [self.run_.cli, '--url', self.run_.rpc_url, '--deadline-ms', '2000', '--json',
                 '--key', key, 'send', sender, recipient, content],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        except subprocess.TimeoutExpired:
            return None, 'cli timeout'
        if p.returncode == 0:
            return json.loads(p.stdout)['id'], None
        err = p.stderr.decode(errors='replace').strip()
        status = err.split(':')[1].strip() if err.count(':') >= 2 else err
        if status not in ('UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL', 'ABORTED'):
            raise Failure('pigeon send failed for good: %s' % err)
        return None, 'cli ' + status

    def run(self):
        try:
            while not self.book.stop.is_set():
                key, sender, recipient, content = self.book.next_message()
                end = time.monotonic() + 60
                while True:
                    send = self.send_http if self.path == 'http' else self.send_cli
                    msg_id, why = send(key, sender, recipient, content)
                    if msg_id is not None:
                        self.book.acked(key, msg_id)
                        break
                    self.book.failed(why)
                    if time.monotonic() >= end:
                        raise Failure('message %s not acknowledged within 60 s' % key)
                    self.path = 'cli' if self.path == 'http' else 'http'
                    time.sleep(0.05)
        except Exception as e:  # reported by the main thread
            self.error = e
            self.book.stop.set()


class Book:
    """What the senders sent and what they were told."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sent = {}      # key -> (sender, recipient, content)
        self.ids = {}       # key -> acknowledged id
        self.failures = {}  # reason -> count
        self.n = 0

    def next_message(self):
        with self.lock:
            i = self.n
            self.n += 1
        key = 'run-%d' % i
        # Every seventh is spam by the blocklist ("buy now").
        content = ('deal %d: buy now' % i) if i % 7 == 0 else 'hello %d from tools/run' % i
        m = (SENDERS[i % len(SENDERS)], RECIPIENTS[i % len(RECIPIENTS)], content)
        with self.lock:
            self.sent[key] = m
        return (key,) + m

    def acked(self, key, msg_id):
        with self.lock:
            self.ids[key] = msg_id

    def failed(self, why):
        with self.lock:
            self.failures[why] = self.failures.get(why, 0) + 1

    def acks(self):
        with self.lock:
            return len(self.ids)


def kill_and_wait_back(run, name, senders):
    others = {n: run.pid_of(n) for n in PIDFILES if n != name}
    old = run.pid_of(name)
    check(old is not None and alive(old), '%s has no live pid before the kill' % name)
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()

    def back():
        for s in senders:
            if s.error is not None:
                raise s.error
        pid = run.pid_of(name)
        return pid is not None and pid != old and alive(pid) and run.serves(name)

    wait_for(back, COME_BACK_S, '%s (pid %d, SIGKILLed) to come back' % (name, old))
    took = time.monotonic() - t0
    check(took <= COME_BACK_S, '%s came back only after %.2f s' % (name, took))
    check(not alive(old), '%s pid %d still alive after SIGKILL' % (name, old))
    for n, pid in others.items():
        check(run.pid_of(n) == pid and alive(pid),
              '%s (pid %d) did not keep running while %s restarted' % (n, pid, name))
    print('%s: SIGKILLed pid %d, pid %d serves after %.2f s'
          % (name, old, run.pid_of(name), took))


def wait_acks(book, senders, n):
    target = book.acks() + n

    def reached():
        for s in senders:
            if s.error is not None:
                raise s.error
        return book.acks() >= target

    wait_for(reached, 30, '%d more acknowledged sends' % n)


def check_store(run, book):
    """Every acknowledged message is stored once, as sent, in a final state."""
    keys = sorted(book.ids)
    ids = [book.ids[k] for k in keys]
    check(len(set(ids)) == len(ids), 'two idempotency keys got the same message id')
    r = Redis(os.path.join(run.var, 'redis.sock'))
    try:
        def drained():
            states = r.pipeline([('HGET', 'pigeon:msg:%d' % i, 'state') for i in ids])
            for k, i, st in zip(keys, ids, states):
                check(st is not None, 'acknowledged message %d (%s) is not stored' % (i, k))
                check(st != 'dead_letter', 'message %d (%s) was dead-lettered' % (i, k))
            return all(st in FINAL_STATES for st in states)

        wait_for(drained, 45, 'every acknowledged message to reach a final state', every=0.1)
        stored = r.pipeline([('HMGET', 'pigeon:msg:%d' % i, 'sender', 'recipient', 'content',
                              'state') for i in ids])
        for k, i, got in zip(keys, ids, stored):
            sender, recipient, content = book.sent[k]
            want = 'marked_as_spam' if 'buy now' in content else 'delivered'
            check(got == [sender, recipient, content, want],
                  'message %d (%s) is %r, expected %r'
                  % (i, k, got, [sender, recipient, content, want]))
        count, cursor = 0, '0'
        while True:
            cursor, found = r.call('SCAN', cursor, 'MATCH', 'pigeon:msg:*', 'COUNT', 1000)
            count += sum(1 for key in found if key != 'pigeon:msg:seq')
            if cursor == '0':
                break
        seq = int(r.call('GET', 'pigeon:msg:seq') or 0)
    finally:
        r.close()
    check(count == len(keys), '%d messages stored for %d acknowledged keys' % (count, len(keys)))
    check(seq == len(keys), 'message ids went up to %d for %d acknowledged keys'
          % (seq, len(keys)))
    print('%d messages acknowledged, each stored once in its final state' % len(keys))


def stop_run(run):
    """SIGTERM: exit 0 within the deadline, nothing left behind."""
    children = [run.pid_of(n) for n in PIDFILES]
    check(all(p is not None and run.ours(p) for p in children),
          'the pid files do not name the processes of tools/run: %s' % children)
    t0 = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    try:
        code = run.proc.wait(40)
    except subprocess.TimeoutExpired:
        raise Failure('tools/run still running 40 s after SIGTERM')
    print('tools/run stopped in %.2f s' % (time.monotonic() - t0))
    check(code == 0, 'tools/run exited with %d after SIGTERM' % code)
    left = run.left_behind()
    check(not left, 'processes left after tools/run stopped: %s' % left)
    # Its own restart timers and helpers stay in its process group.
    try:
        os.killpg(run.proc.pid, 0)
        raise Failure('processes left in the process group of tools/run')
    except ProcessLookupError:
        pass
    for name, f in PIDFILES.items():
        check(not os.path.exists(os.path.join(run.var, f)), '%s left behind' % f)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    if shutil.which('redis-server') is None:
        print('redis-server not found: skipping')
        return 77
    build = os.path.abspath(sys.argv[1])
    tools_run = os.path.abspath(sys.argv[2])
    source = os.path.dirname(os.path.dirname(tools_run))
    run = Run(build, tools_run, source)
    book = Book()
    senders = []

    def on_term(sig, frame):
        raise Failure('stopped by signal %d' % sig)

    signal.signal(signal.SIGTERM, on_term)
    t_start = time.monotonic()
    ok = False
    try:
        # A port found free may be taken before pigeond or pigeon-http binds
        # it, and then tools/run exits: try again on new ports.
        for attempt in range(3):
            run.start()
            try:
                wait_for(run.up, 90, 'tools/run to start every process', every=0.1)
                break
            except Failure:
                if attempt == 2 or run.proc.poll() is None:
                    raise
                run.kill_all()
                run.seen_pids.clear()
        print('tools/run up after %.1f s' % (time.monotonic() - t_start))
        senders = [Sender(run, book, 'http'), Sender(run, book, 'cli')]
        for s in senders:
            s.start()
        for name in ('pigeond', 'pigeon-http', 'redis-server'):
            wait_acks(book, senders, ACKS_BETWEEN)
            kill_and_wait_back(run, name, senders)
        wait_acks(book, senders, ACKS_BETWEEN)
        book.stop.set()
        for s in senders:
            s.join(70)
            check(not s.is_alive(), 'a sender did not stop')
            if s.error is not None:
                raise s.error
        print('send failures retried: %s' % (json.dumps(book.failures, sort_keys=True)))
        check_store(run, book)
        log = run.log_text()
        for name in ('pigeond', 'pigeon-http', 'redis-server'):
            line = 'tools/run: %s exited on signal KILL; restarting in 0.5 s' % name
            check(line in log, 'no line "%s" in the log' % line)
            check('tools/run: %s restarted, pid ' % name in log,
                  'no restart line for %s in the log' % name)
        print(''.join(line + '\n' for line in log.splitlines() if line.startswith('tools/run:')),
              end='')
        stop_run(run)
        ok = True
        print('passed in %.1f s' % (time.monotonic() - t_start))
    except Failure as e:
        print('FAIL: %s' % e)
    finally:
        book.stop.set()
        if not ok:
            run.kill_all()
            print('---- tools/run log ----')
            print(run.log_text(), end='')
            print('----')
        shutil.rmtree(run.tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
