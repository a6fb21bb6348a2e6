#!/usr/bin/env python3
# A stand-in for BOINC's `bin/start` (sched/start in BOINC's source) for tests-e2e/tests/dropin.rs,
# which cannot ship BOINC's own scripts. It does what the real script does with the files and
# processes our `start`/`stop`/`status` meet: the action from the name it is called by (`start`,
# `stop`, `status`) or a flag (--enable, --disable, --status, --cron); `start.lock.<host>` and
# each daemon's lock file locked with fcntl.lockf(LOCK_EX | LOCK_NB), the daemon's lock taken in
# the forked process that then execs the daemon (so the daemon holds it); the same lock, pid and
# log file names; `run_state_<host>.xml`'s <enabled>; stop = SIGHUP to each pid file's process,
# then wait. Left out: <tasks>, remote hosts, the web cache, verbosity options.
import fcntl, os, re, shlex, signal, socket, sys, time
import xml.etree.ElementTree as ET

program = os.path.basename(sys.argv[0])
action = {'start': 'enable', 'stop': 'disable', 'status': 'status'}.get(program)
for arg in sys.argv[1:]:
    action = {'--enable': 'enable', '--start': 'enable', '--disable': 'disable',
              '--stop': 'disable', '--status': 'status', '--cron': 'cron'}.get(arg, action)
if action is None:
    sys.exit('No command specified and script name is not "start", "stop", or "status"')

root = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), '..'))
host = socket.gethostname().split('.')[0]
config = ET.parse(os.path.join(root, 'config.xml')).getroot()
config_host = (config.findtext('config/host') or '').strip()
pid_dir = os.path.join(root, 'pid_' + host)
log_dir = os.path.join(root, 'log_' + host)
tmp_dir = os.path.join(root, 'tmp_' + host)
for d in (pid_dir, log_dir, tmp_dir):
    os.makedirs(d, exist_ok=True)
run_state = os.path.join(root, 'run_state_' + host + '.xml')

def text(el, tag):
    t = el.findtext(tag)
    return t.strip() if t and t.strip() else None

daemons = []
for d in config.findall('daemons/daemon'):
    if (text(d, 'host') or config_host) != host or text(d, 'disabled') not in (None, '0'):
        continue
    cmd = d.findtext('cmd').strip()
    base = os.path.basename(cmd.split()[0])
    output = text(d, 'output')
    lock = text(d, 'lock_file') or (output + '.lock' if output and not output.startswith('/dev/') else base + '.lock')
    daemons.append((cmd, os.path.join(pid_dir, lock),
                    os.path.join(pid_dir, text(d, 'pid_file') or base + '.pid'),
                    os.path.join(log_dir, output or base + '.log')))

locks = []
def lock_file(path):
    f = open(path, 'w')
    locks.append(f)
    os.set_inheritable(f.fileno(), True)
    try:
        fcntl.lockf(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False

def enabled():
    try:
        m = re.search(r'<enabled>\s*(\d+)\s*</enabled>', open(run_state).read())
        return bool(m and int(m.group(1)))
    except OSError:
        return False

def set_enabled(on):
    with open(run_state, 'w') as f:
        f.write('<?xml version="1.0" ?>\n<boinc>\n    <tasks>\n    </tasks>\n    <enabled>%d</enabled>\n</boinc>\n' % on)

def run_daemon(cmd, lock, pid, log):
    sys.stdout.flush()
    if os.fork():
        time.sleep(0.1)  # BOINC's fork_delay
        return
    os.setsid()
    if not lock_file(lock):
        print('  Daemon already running:', cmd, flush=True)
        os._exit(0)
    print('  Starting daemon:', cmd, flush=True)
    with open(pid, 'w') as p:
        print(os.getpid(), file=p)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o664)
    os.dup2(out, 1)
    os.dup2(out, 2)
    print('[%s] Executing command: %s' % (time.strftime('%Y/%m/%d %H:%M:%S'), cmd), flush=True)
    os.chdir(tmp_dir)
    args = shlex.split(cmd)
    os.execv(os.path.join(root, 'bin', args[0]), args)

def stop_daemons():
    with open(os.path.join(root, 'stop_sched'), 'w') as f:
        print('<stop/>', file=f)
    with open(os.path.join(root, 'stop_daemons'), 'w') as f:
        print('<stop/>', file=f)
    pids = []
    for name in os.listdir(pid_dir):
        if name.endswith('.pid'):
            path = os.path.join(pid_dir, name)
            try:
                pids.append(int(open(path).readline().strip()))
            except (OSError, ValueError):
                pass
            os.unlink(path)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGHUP)
            print('  Killed process', pid)
        except OSError:
            pass
    for pid in pids:
        while True:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)

if not lock_file(os.path.join(pid_dir, 'start.lock.' + host)):
    print('start is currently running!', file=sys.stderr)
    sys.exit(1)
if action == 'enable':
    set_enabled(1)
    for f in ('stop_daemons',):
        if os.path.exists(os.path.join(root, f)):
            os.unlink(os.path.join(root, f))
    for d in daemons:
        run_daemon(*d)
    time.sleep(0.5)
    if os.path.exists(os.path.join(root, 'stop_sched')):
        os.unlink(os.path.join(root, 'stop_sched'))
elif action == 'cron':
    if enabled():
        for d in daemons:
            run_daemon(*d)
        time.sleep(0.5)
elif action == 'disable':
    set_enabled(0)
    stop_daemons()
else:
    print('BOINC is ENABLED' if enabled() else 'BOINC is DISABLED')
    for cmd, lock, pid, log in daemons:
        probe = open(lock, 'a')
        try:
            fcntl.lockf(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            state = 'UNLOCKED'
        except OSError:
            state = 'locked'
        probe.close()
        print('  %s %s' % (state, cmd))
