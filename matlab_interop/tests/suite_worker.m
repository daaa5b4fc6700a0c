function tests = suite_worker()
%SUITE_WORKER Octave tests of the persistent Python worker of the file transport:
%   reuse, crash and restart, timeout, refusals, two sessions at once, fallback.
%   Returns a cell of handles; pyulm_tests runs them with the data struct D.
tests = {@test_worker_reused, @test_worker_killed_between_calls, @test_worker_killed_during_a_call, ...
         @test_worker_timeout, @test_worker_refuses, @test_worker_two_sessions, @test_worker_fallback, ...
         @test_worker_start_failures};
if ~pyulm.internal.worker('available')
    tests = {};  % MATLAB, or Octave on Windows: one Python per call (suite_transport covers it)
end
end

function info = worker_info()
% the session's worker after one call (started if needed)
check(pyulm.internal.worker('available'), 'no worker under Octave');
pyulm.internal.call('echo', 1, {0});
info = pyulm.internal.worker('info');
check(info.running && info.pid > 0, 'the worker does not run');
end

function test_worker_reused(D) %#ok<INUSD>
first = worker_info();
IQ = complex(rand(20, 30, 40), rand(20, 30, 40));
for k = 1:5
    y = pyulm.internal.call('echo', 1, {IQ(:, :, k)});
    check(isequal(y, IQ(:, :, k)), 'call %d through the worker gave another value', k);
end
later = pyulm.internal.worker('info');
check(later.pid == first.pid, 'a new worker (pid %d) replaced pid %d between calls', later.pid, first.pid);
check(later.calls == first.calls + 5, '%d calls counted, expected %d', later.calls, first.calls + 5);
end

function test_worker_killed_between_calls(D) %#ok<INUSD>
info = worker_info();
kill(info.pid, SIG().KILL);
pause(0.2);
lastwarn('');
y = pyulm.internal.call('echo', 1, {42});
[msg, id] = lastwarn();
check(y == 42, 'the call after the restart gave %g', y);
check(strcmp(id, 'pyulm:WorkerRestarted') && ~isempty(strfind(msg, sprintf('pid %d', info.pid))), ...
      'no restart warning naming the old worker: [%s] %s', id, msg);
now = pyulm.internal.worker('info');
check(now.running && now.pid ~= info.pid, 'no new worker');
end

function test_worker_killed_during_a_call(D) %#ok<INUSD>
info = worker_info();
kill(info.pid, SIG().STOP);  % the request waits; the worker is killed while MATLAB waits for it
system(sprintf('(sleep 1; kill -9 %d) >/dev/null 2>&1 &', info.pid));
t0 = tic();
expect_error(@() pyulm.internal.call('echo', 1, {1}), 'pyulm:WorkerCrashed', sprintf('pid %d', info.pid));
check(toc(t0) < 30, 'the crash was noticed after %.1f s', toc(t0));
y = pyulm.internal.call('echo', 1, {7});
now = pyulm.internal.worker('info');
check(y == 7 && now.pid ~= info.pid, 'the next call did not start a new worker');
end

function test_worker_timeout(D) %#ok<INUSD>
info = worker_info();
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
s = s0;
s.worker_timeout = 1;
pyulm.internal.settings(s);
kill(info.pid, SIG().STOP);  % a hung worker
t0 = tic();
expect_error(@() pyulm.internal.call('echo', 1, {1}), 'pyulm:WorkerTimeout', 'worker_timeout');
check(toc(t0) < 20, 'the timeout took %.1f s', toc(t0));
check(kill(info.pid, 0) ~= 0, 'the hung worker (pid %d) still exists', info.pid);
y = pyulm.internal.call('echo', 1, {3});
check(y == 3, 'no answer after the timeout');
end

function test_worker_refuses(D) %#ok<INUSD>
worker_info();
reply = pyulm.internal.worker('send', 'rm -rf /');
check(strncmp(reply, 'refused', 7), 'a shell command got "%s"', reply);
reply = pyulm.internal.worker('send', 'call 1 relative/folder');
check(strncmp(reply, 'refused', 7) && ~isempty(strfind(reply, 'absolute')), 'a relative folder got "%s"', reply);
s = pyulm.internal.settings();
d = pyulm.internal.worker('folder', s);
remove_file(fullfile(d, 'request.mat'));  % the last call's request stays there, to be overwritten
expect_error(@() pyulm.internal.worker('call', d, s), 'pyulm:WorkerRefused', 'no request.mat');
expect_error(@() pyulm.internal.call('os.system', 1, {'echo hacked'}), 'pyulm:Python:BridgeError', ...
             'unknown function');
expect_error(@() pyulm.internal.worker('launch'), 'pyulm:BadArgument', 'launch');
check(pyulm.internal.call('echo', 1, {5}) == 5, 'the worker does not serve after refusals');
end

function test_worker_two_sessions(D)
% a second Octave session at the same time has its own worker; each ends with its session
mine = worker_info();
here = fileparts(fileparts(mfilename('fullpath')));
out = fullfile(D.workdir, 'second session.txt');
script = fullfile(D.workdir, 'second_session.m');
lit = @(p) ['''' strrep(p, '''', '''''') ''''];
part = [out '.part'];
fid = fopen(script, 'w');
fprintf(fid, 'addpath(%s);\n', lit(here));
fprintf(fid, 'x = zeros(1, 20);\nfor k = 1:20\n    x(k) = pyulm.internal.call(''echo'', 1, {2 * k});\nend\n');
fprintf(fid, 'info = pyulm.internal.worker(''info'');\n');
fprintf(fid, 'fid = fopen(%s, ''w'');\nfprintf(fid, ''%%d %%d '', info.pid, isequal(x, 2:2:40));\n', lit(part));
fprintf(fid, 'fclose(fid);\n');
% 'clear all', as at the top of PALA's scripts, keeps the session's worker
fprintf(fid, 'clear all\ny = pyulm.internal.call(''echo'', 1, {5});\ninfo = pyulm.internal.worker(''info'');\n');
fprintf(fid, 'fid = fopen(%s, ''a'');\nfprintf(fid, ''%%d %%d\\n'', info.pid, y == 5);\nfclose(fid);\n', lit(part));
fprintf(fid, 'rename(%s, %s);\n', lit(part), lit(out));
fclose(fid);
q = @pyulm.internal.shell_quote;
system(sprintf('%s --no-gui --norc -q -H %s >/dev/null 2>&1 &', q(fullfile(OCTAVE_HOME(), 'bin', 'octave-cli')), ...
               q(script)));
for k = 1:20
    check(isequal(pyulm.internal.call('echo', 1, {k}), k), 'this session''s call %d went wrong', k);
end
t0 = tic();
while ~exist(out, 'file') && toc(t0) < 120
    pause(0.2);
end
check(exist(out, 'file') == 2, 'the second session did not finish');
pause(0.2);
got = sscanf(read_text(out), '%d');
check(numel(got) == 4 && got(2) == 1 && got(4) == 1, 'the second session''s calls went wrong: %s', read_text(out));
check(got(1) ~= mine.pid, 'both sessions used worker %d', mine.pid);
check(got(3) == got(1), '''clear all'' replaced the second session''s worker (pid %d -> %d)', got(1), got(3));
still = pyulm.internal.worker('info');
check(still.pid == mine.pid, 'this session''s worker changed');
t0 = tic();
while kill(got(1), 0) == 0 && toc(t0) < 10
    pause(0.1);
end
check(kill(got(1), 0) ~= 0, 'the second session''s worker (pid %d) outlived its session', got(1));
end

function test_worker_fallback(D) %#ok<INUSD>
% one Python per call (MATLAB without py.*, or pyulm.setup('Worker', false)): same results, no leftovers
worker_info();
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
pyulm.setup('Worker', false, 'Save', false);
info = pyulm.internal.worker('info');
check(~info.running, 'pyulm.setup(''Worker'', false) left the worker running');
before = list_dir(tempdir());
y = pyulm.internal.call('echo', 1, {int16([1 2; 3 4])});
check(isequal(y, int16([1 2; 3 4])), 'the per-call transport gave another value');
expect_error(@() pyulm.SVDfilter(rand(4, 4, 6), [0 2]), 'pyulm:Python:ValueError', 'cutoff');
after = list_dir(tempdir());
check(numel(after) == numel(before), 'temporary entries: %d before, %d after', numel(before), numel(after));
end

function test_worker_start_failures(D)
% a worker that cannot start says why, as the per-call transport does, and leaves nothing behind
worker_info();  % one worker (and its folder) before and after
s0 = pyulm.internal.settings();
restore = onCleanup(@() pyulm.internal.settings(s0));
before = list_dir(tempdir());
s = s0;
s.python = getenv('PYULM_TEST_FAKE_PYTHON');
pyulm.internal.settings(s);
expect_error(@() pyulm.internal.call('echo', 1, {1}), 'pyulm:PyulmNotInstalled', 'pip install pyulm==');
s.python = fullfile(D.workdir, 'no such python');
pyulm.internal.settings(s);
expect_error(@() pyulm.internal.call('echo', 1, {1}), 'pyulm:PythonNotFound', 'no such python');
pyulm.internal.settings(s0);
lastwarn('');
check(pyulm.internal.call('echo', 1, {4}) == 4, 'no worker after the failed starts');
[msg, id] = lastwarn(); %#ok<ASGLU>
check(isempty(id), 'a spurious warning after the failed starts: [%s] %s', id, msg);
after = list_dir(tempdir());
check(numel(after) == numel(before), 'temporary entries: %d before, %d after', numel(before), numel(after));
end
