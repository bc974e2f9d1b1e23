#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What `meson install` puts on a machine, checked from a temporary DESTDIR.

Installs the build tree (--no-rebuild: it only reads the tree, so it can run
beside the other tests) and checks the exact list of installed files; that
libpigeon.pc names no .so by absolute path and -lnng exactly once; that
clients/examples/inbox_watch.c builds with nothing but the flags of the
installed .pc and runs; that the installed programs run and the environment
files list every variable of their --help with its default; and that
`systemd-analyze verify` has nothing to say about the units.

meson passes the configured directories in the environment (see meson.build
next to this file).  Exits 77 (meson: SKIP) after every other check when
systemd-analyze is missing.  Standard library only.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run(cmd, env=None, cwd=None):
    """Runs cmd; returns its stdout, or fails with its output."""
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Failure('%s exited with %d\n%s%s' % (' '.join(cmd), r.returncode, r.stdout,
                                                   r.stderr))
    return r.stdout


class Layout:
    """The configured install directories, absolute, and where each lands
    under DESTDIR."""

    def __init__(self, dest):
        self.dest = dest
        self.prefix = os.environ['PIGEON_PREFIX']
        self.bindir = os.environ['PIGEON_BINDIR']
        self.libdir = os.environ['PIGEON_LIBDIR']
        self.includedir = os.environ['PIGEON_INCLUDEDIR']
        self.confdir = os.environ['PIGEON_CONFDIR']
        self.unitdir = os.environ['PIGEON_UNITDIR']

    def rel(self, path):
        return path.lstrip('/')

    def staged(self, path):
        return os.path.join(self.dest, self.rel(path))


def expected_files(lay):
    version = os.environ['PIGEON_VERSION']
    files = [os.path.join(lay.bindir, b) for b in ('pigeond', 'pigeon-http', 'pigeon')]
    files += [os.path.join(lay.libdir, n) for n in (
        'libpigeon.so', 'libpigeon.so.0', 'libpigeon.so.' + version, 'pkgconfig/libpigeon.pc')]
    files += [os.path.join(lay.includedir, 'pigeon', h) for h in (
        'pigeon.h', 'wire.h', 'v1/status.pb-c.h', 'v1/envelope.pb-c.h', 'v1/event.pb-c.h',
        'v1/pigeon.pb-c.h')]
    files += [os.path.join(lay.confdir, c) for c in (
        'users.conf', 'spam.conf', 'spam-blocklist.txt', 'pigeond.env', 'pigeon-http.env')]
    files += [os.path.join(lay.unitdir, u) for u in ('pigeond.service', 'pigeon-http.service')]
    return sorted(lay.rel(f) for f in files)


def check_tree(lay):
    got = []
    for root, _dirs, names in os.walk(lay.dest):
        for n in names:
            got.append(os.path.relpath(os.path.join(root, n), lay.dest))
    want = expected_files(lay)
    extra = sorted(set(got) - set(want))
    missing = sorted(set(want) - set(got))
    check(not extra and not missing,
          'installed tree differs:\n  not installed: %s\n  not expected: %s' % (missing, extra))
    check(os.path.realpath(lay.staged(os.path.join(lay.libdir, 'libpigeon.so'))) ==
          lay.staged(os.path.join(lay.libdir, 'libpigeon.so.' + os.environ['PIGEON_VERSION'])),
          'libpigeon.so does not lead to the versioned library')
    # Text files must not point back into the build or the source tree.
    roots = (os.environ['PIGEON_BUILD_ROOT'], os.environ['PIGEON_SOURCE_ROOT'])
    for f in got:
        with open(os.path.join(lay.dest, f), 'rb') as fh:
            data = fh.read()
        if data.startswith(b'\x7fELF'):
            dyn = run(['readelf', '-d', os.path.join(lay.dest, f)])
            check('RPATH' not in dyn and 'RUNPATH' not in dyn, '%s has an rpath:\n%s' % (f, dyn))
        else:
            for r in roots:
                check(r.encode() not in data, '%s names %s' % (f, r))


def check_pc(lay):
    path = lay.staged(os.path.join(lay.libdir, 'pkgconfig', 'libpigeon.pc'))
    with open(path) as fh:
        text = fh.read()
    fields = dict(re.findall(r'^([A-Za-z.]+): ?(.*)$', text, re.M))
    variables = dict(re.findall(r'^(\w+)=(.*)$', text, re.M))
    so_paths = re.findall(r'/\S*\.so(?:\.\d+)*\b', text)
    check(not so_paths, 'libpigeon.pc names libraries by path: %s\n%s' % (so_paths, text))
    check(text.split().count('-lnng') == 1 and text.count('nng') == 1,
          'libpigeon.pc must name nng once, as -lnng:\n' + text)
    check(fields.get('Libs.private', '').split() == ['-lnng', '-pthread'],
          'Libs.private: want "-lnng -pthread":\n' + text)
    want_private = ['libprotobuf-c', 'icu-uc', 'icu-i18n']
    check([r.strip() for r in fields.get('Requires.private', '').split(',')] == want_private
          and 'Requires' not in fields,
          'want Requires.private: %s and no Requires:\n%s' % (', '.join(want_private), text))
    check(fields.get('Libs', '').split() == ['-L${libdir}', '-lpigeon'],
          'Libs: want "-L${libdir} -lpigeon":\n' + text)
    check(fields.get('Cflags') == '-I${includedir}', 'Cflags: want "-I${includedir}":\n' + text)
    check(variables.get('prefix') == lay.prefix, 'prefix is not %s:\n%s' % (lay.prefix, text))
    inc = variables.get('includedir', '').replace('${prefix}', lay.prefix)
    lib = variables.get('libdir', '').replace('${prefix}', lay.prefix)
    check(inc == lay.includedir and lib == lay.libdir,
          'includedir/libdir are not %s and %s:\n%s' % (lay.includedir, lay.libdir, text))


def check_example(lay, tmp):
    """Builds inbox_watch.c from the installed .pc alone, as an outside
    program would, and runs it."""
    env = dict(os.environ)
    env['PKG_CONFIG_PATH'] = lay.staged(os.path.join(lay.libdir, 'pkgconfig'))
    # The .pc's own paths are the final ones; the sysroot moves them into
    # DESTDIR.
    env['PKG_CONFIG_SYSROOT_DIR'] = lay.dest
    flags = shlex.split(run(['pkg-config', '--cflags', '--libs', 'libpigeon'], env=env))
    check('-I' + lay.staged(lay.includedir) in flags and
          '-L' + lay.staged(lay.libdir) in flags and '-lpigeon' in flags,
          'pkg-config did not point into DESTDIR: %s' % flags)
    cc = shlex.split(os.environ['PIGEON_CC'])
    sanitize = os.environ.get('PIGEON_SANITIZE', 'none')
    # A program linking a sanitized libpigeon needs the sanitizer runtime
    # first in line, as its own.
    extra = ['-fsanitize=' + sanitize] if sanitize != 'none' else []
    exe = os.path.join(tmp, 'inbox_watch')
    src = os.path.join(os.environ['PIGEON_SOURCE_ROOT'], 'clients', 'examples', 'inbox_watch.c')
    run(cc + extra + ['-Wall', '-Wextra', '-Werror', '-o', exe, src] + flags, cwd=tmp)
    env = dict(os.environ)
    env['LD_LIBRARY_PATH'] = lay.staged(lay.libdir)
    out = run([exe, '--help'], env=env)
    check(out.startswith('Usage: '), 'inbox_watch --help printed:\n' + out)


def help_vars(text):
    """(variable, default or None) for each option of a --help text, in
    either program's format."""
    found = []
    # pigeond: "  --name VALUE   help (default: X) [env NAME]"
    for line in text.splitlines():
        m = re.search(r'\[env (\w+)\]$', line)
        if m:
            d = re.search(r'\(default: (.*)\) \[env', line)
            found.append((m.group(1), d.group(1) if d else None))
    # pigeon-http: "  --name=ARG\n      help (X)\n      environment: NAME"
    for m in re.finditer(r'^ +--[\w-]+=\S+\n +(.*)\n +environment: (\w+)$', text, re.M):
        d = re.search(r'\(([^()]*)\)$', m.group(1))
        found.append((m.group(2), d.group(1) if d else None))
    return found


def check_programs_and_env_files(lay):
    env = dict(os.environ)
    env['LD_LIBRARY_PATH'] = lay.staged(lay.libdir)
    out = run([lay.staged(os.path.join(lay.bindir, 'pigeon')), '--help'], env=env)
    check('Usage:' in out, 'pigeon --help printed:\n' + out)
    for prog in ('pigeond', 'pigeon-http'):
        text = run([lay.staged(os.path.join(lay.bindir, prog)), '--help'], env=env)
        variables = help_vars(text)
        check(len(variables) >= 10, 'cannot read the variables of %s --help:\n%s' % (prog, text))
        with open(lay.staged(os.path.join(lay.confdir, prog + '.env'))) as fh:
            lines = fh.read().splitlines()
        # Every variable commented out at its default (one without a
        # default: at any example value), and no variable --help lacks.
        for name, default in variables:
            if default is not None:
                check('#%s=%s' % (name, default) in lines,
                      '%s.env lacks the line "#%s=%s"' % (prog, name, default))
            else:
                check(any(l.startswith('#%s=' % name) for l in lines),
                      '%s.env lacks a line "#%s=..."' % (prog, name))
        known = {name for name, _ in variables}
        for l in lines:
            m = re.match(r'^#?(\w+)=', l)
            check(m is None or m.group(1) in known,
                  '%s.env sets %s, which %s --help does not list' % (prog, l, prog))


def check_units(lay, tmp):
    """Checks the units' paths, then runs systemd-analyze verify on copies
    whose ExecStart points into DESTDIR (verify wants the binary to exist).
    Returns False when systemd-analyze is missing."""
    units = os.path.join(tmp, 'units')
    os.mkdir(units)
    for prog in ('pigeond', 'pigeon-http'):
        with open(lay.staged(os.path.join(lay.unitdir, prog + '.service'))) as fh:
            text = fh.read()
        exec_start = os.path.join(lay.bindir, prog)
        env_file = os.path.join(lay.confdir, prog + '.env')
        check(re.search(r'^ExecStart=%s$' % re.escape(exec_start), text, re.M),
              '%s.service: ExecStart is not %s' % (prog, exec_start))
        check(re.search(r'^EnvironmentFile=-%s$' % re.escape(env_file), text, re.M),
              '%s.service: EnvironmentFile is not -%s' % (prog, env_file))
        text = text.replace('ExecStart=' + exec_start, 'ExecStart=' + lay.staged(exec_start))
        with open(os.path.join(units, prog + '.service'), 'w') as fh:
            fh.write(text)
    analyze = shutil.which('systemd-analyze')
    if analyze is None:
        return False
    r = subprocess.run([analyze, 'verify', '--man=no', 'pigeond.service', 'pigeon-http.service'],
                       cwd=units, capture_output=True, text=True, timeout=120)
    said = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and not said,
          'systemd-analyze verify exited with %d:\n%s' % (r.returncode, said))
    return True


def main():
    tmp = tempfile.mkdtemp(prefix='pigeon-install-')
    try:
        lay = Layout(os.path.join(tmp, 'dest'))
        run(shlex.split(os.environ['PIGEON_MESON']) + [
            'install', '-C', os.environ['PIGEON_BUILD_ROOT'], '--no-rebuild', '--quiet',
            '--destdir', lay.dest])
        check_tree(lay)
        print('ok - installed tree is exactly the expected files')
        check_pc(lay)
        print('ok - libpigeon.pc')
        check_example(lay, tmp)
        print('ok - inbox_watch.c builds from the installed .pc alone and runs')
        check_programs_and_env_files(lay)
        print('ok - installed programs run; environment files match --help')
        verified = check_units(lay, tmp)
        if not verified:
            print('SKIP - systemd-analyze is not installed (Debian: systemd)')
            return SKIP
        print('ok - systemd-analyze verify: nothing to say about the units')
        return 0
    except Failure as e:
        print('FAIL - %s' % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
