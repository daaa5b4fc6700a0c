function out = worker(action, varargin)
%WORKER The session's persistent Python worker (file transport, GNU Octave).
%   ok = pyulm.internal.worker('available') is true where the worker can run
%   (Octave on Linux/macOS: popen2, waitpid and /bin/sh; MATLAB uses its py
%   transport or one Python per call, Octave on Windows one Python per call).
%   folder = pyulm.internal.worker('folder', s) starts the worker if none runs
%   (python -m pyulm.matlab_bridge --worker, settings s) and returns its
%   private folder, where the calls write their requests (reused: no folder
%   is made per call). pyulm.internal.worker('call', folder, s) has the
%   worker serve folder/request.mat (written as for the per-call transport)
%   and returns once folder/response.mat is in place. The worker started by
%   the first call serves every later call of the session; only one runs per
%   session.
%   info = pyulm.internal.worker('info') gives its pid and number of calls.
%   pyulm.internal.worker('stop') ends it (the next call starts a new one).
%   reply = pyulm.internal.worker('send', line) sends one raw line (tests).
%   Errors: pyulm:WorkerCrashed (the worker died during a call; the next call
%   starts a new one), pyulm:WorkerTimeout (no answer within
%   s.worker_timeout seconds: the worker is stopped), pyulm:WorkerRefused
%   (the worker did not understand a request); a worker that does not start
%   gives the per-call transport's errors (pyulm:PythonNotFound, ...).
%   A worker found dead at the start of a call is replaced, with the warning
%   pyulm:WorkerRestarted. The worker ends with its Octave session.
persistent st
mlock();  % 'clear all' in a PALA script must not lose the running worker
out = [];
switch action
    case 'available'
        out = pyulm.internal.is_octave() && isunix() && exist('popen2') > 1 && exist('waitpid') > 1; %#ok<EXIST>
    case 'folder'
        st = retire(st, varargin{1});
        if isempty(st)
            st = start(varargin{1});
        end
        out = st.dir;
    case {'call', 'send'}
        try
            s = pyulm.internal.settings();
            if strcmp(action, 'call')
                s = varargin{2};
                if isempty(st) || ~alive(st)
                    pyulm.internal.raise('pyulm:WorkerCrashed', ...
                                         ['the pyulm Python worker died before the request could be sent; ' ...
                                          'the next call starts a new one']);
                end
            end
            st = retire(st, s);
            if isempty(st)
                st = start(s);
            end
            st.seq = st.seq + 1;  % kept even if this call is interrupted: a late answer is recognised
            if strcmp(action, 'call')
                st = call(st, varargin{1}, s);
            else
                out = exchange(st, varargin{1}, s);
            end
        catch err
            if any(strcmp(err.identifier, {'pyulm:WorkerCrashed', 'pyulm:WorkerTimeout'}))
                st = stop(st);
            end
            rethrow(err);
        end
    case 'info'
        out = struct('running', ~isempty(st) && alive(st), 'pid', -1, 'calls', 0);
        if ~isempty(st)
            out.pid = st.pid;
            out.calls = st.calls;
        end
    case 'stop'
        st = stop(st);
    otherwise
        pyulm.internal.raise('pyulm:BadArgument', sprintf('pyulm.internal.worker: unknown action ''%s''', action));
end
end

function st = call(st, folder, s)
if any(folder == char(10)) || any(folder == char(13))
    pyulm.internal.raise('pyulm:BadArgument', 'the temporary folder name holds a newline: set TMPDIR to another one');
end
done = sprintf('done %d', st.seq);
while true
    if isempty(folder)
        reply = exchange(st, '', s);
    else
        reply = exchange(st, sprintf('call %d %s', st.seq, folder), s);
        folder = '';  % sent once; other answers are those of earlier, interrupted calls
    end
    if strcmp(reply, done)
        break
    elseif strncmp(reply, sprintf('refused %d ', st.seq), numel(sprintf('refused %d ', st.seq)))
        pyulm.internal.raise('pyulm:WorkerRefused', ...
                             sprintf('the pyulm Python worker refused the request: %s', reply));
    end
end
st.calls = st.calls + 1;
end

function st = retire(st, s)
% the running worker if it runs this Python, else none (a dead one is reported)
if ~isempty(st) && ~strcmp(st.python, s.python)
    st = stop(st);
end
if ~isempty(st) && ~alive(st)
    warning('pyulm:WorkerRestarted', ...
            'the pyulm Python worker (pid %d) has exited (%s); starting a new one', st.pid, log_tail(st));
    st = stop(st);
end
end

function st = start(s)
d = pyulm.internal.make_tempdir();
log = fullfile(d, 'worker.log');
cmd = pyulm.internal.python_command(s.python, {'-m', 'pyulm.matlab_bridge', '--worker'}, d, ...
                                    [' 2>' pyulm.internal.shell_quote(log)]);
[in, out, pid] = popen2('/bin/sh', {'-c', cmd});
st = struct('in', in, 'out', out, 'pid', pid, 'dir', d, 'log', log, 'python', s.python, 'seq', 0, 'calls', 0);
first = s;
first.worker_timeout = 120;  % Python's start and pyulm's import, even from a cold disk
if isfield(s, 'worker_timeout')
    first.worker_timeout = min(s.worker_timeout, 120);
end
try
    hello = exchange(st, '', first);
catch err %#ok<NASGU>
    hello = '';
end
if isempty(regexp(hello, '^pyulm-worker 1 \d+ ', 'once'))
    text = log_tail(st);
    stop(st);
    pyulm.internal.diagnose(s.python, 1, sprintf('the pyulm Python worker did not start: %s %s', hello, text));
end
if exist('atexit') > 1 %#ok<EXIST>
    atexit('pyulm.internal.worker_exit', false);  % registered once, however many workers were started
    atexit('pyulm.internal.worker_exit', true);
end
end

function reply = exchange(st, line, s)
% send line (none when empty) and wait for the worker's next answer line
if ~isempty(line)
    if ~alive(st) || fputs(st.in, sprintf('%s\n', line)) ~= 0 || fflush(st.in) ~= 0
        crashed(st, 'before the request could be sent');
    end
end
timeout = Inf;
if isfield(s, 'worker_timeout')
    timeout = s.worker_timeout;
end
t0 = tic();
wait = 5e-5;
while true
    reply = fgetl(st.out);
    if ischar(reply)
        return
    end
    fclear(st.out);
    if ~alive(st)
        crashed(st, 'while it served the request');
    elseif toc(t0) > timeout
        pyulm.internal.raise('pyulm:WorkerTimeout', ...
                             sprintf(['the pyulm Python worker (pid %d) gave no answer within %g s ' ...
                                      '(worker_timeout); it was stopped and the next call starts a new one'], ...
                                     st.pid, timeout));
    end
    pause(wait);
    % answers of short calls are seen within ~1 ms; long calls are polled every 10 ms
    wait = min(1.25 * wait, 1e-3 + 9e-3 * (toc(t0) > 0.2));
end
end

function tf = alive(st)
tf = waitpid(st.pid, WNOHANG()) == 0;
end

function crashed(st, when)
pyulm.internal.raise('pyulm:WorkerCrashed', ...
                     sprintf(['the pyulm Python worker (pid %d) died %s: %s\nThe next call starts a new ' ...
                              'worker; pyulm.setup(''Worker'', false) uses one Python per call instead.'], ...
                             st.pid, when, log_tail(st)));
end

function text = log_tail(st)
text = '(no output)';
fid = fopen(st.log, 'r');
if fid < 0
    return
end
raw = fread(fid, Inf, '*char')';
fclose(fid);
if ~isempty(strtrim(raw))
    text = strtrim(raw(max(1, end - 2000):end));
end
end

function st = stop(st)
if isempty(st)
    return
end
try
    fclose(st.in);  % the worker exits at the end of its input
    fclose(st.out);
catch
end
for k = 1:50
    if ~alive(st)
        break
    end
    pause(0.01);
end
if alive(st)
    kill(st.pid, 9);
    waitpid(st.pid, 0);
end
pyulm.internal.remove_tree(st.dir);
st = [];
end
