function s = settings(new, save_pref)
%SETTINGS Current pyulm settings (Python executable, transport, ...).
%   S = pyulm.internal.settings() returns a struct with fields
%     python         Python executable used by the file transport
%     transport      'py', 'file' or 'auto'
%     execution_mode '' (leave pyenv alone), 'InProcess' or 'OutOfProcess'
%     npy_threshold  arrays of at least this many bytes travel as .npy files
%     side_threshold numeric arrays of at least this many bytes (and below
%                    npy_threshold) travel as side files beside the request
%                    and response .mat files (file transport)
%     side_format    'auto' (Octave's binary format where Octave reads or
%                    writes it faster, else MAT v5) or 'mat' (MAT v5 only)
%     svd_precision  'double' (accurate) or 'pala_single' (PALA's single-precision
%                    SVD on single data): SVDfilter's default
%     pala_messages  true: print PALA's console lines ('Building 2D ULM image')
%     worker         true: Octave's calls go to one persistent Python worker
%                    per session (pyulm.internal.worker); false: one Python
%                    per call
%     worker_timeout seconds a call may wait for the worker's answer (Inf:
%                    no limit; a worker that dies is noticed at once anyway)
%   Precedence: pyulm.setup in this session, then the PYULM_PYTHON and
%   PYULM_TRANSPORT environment variables, then the saved preferences
%   (getpref('pyulm', 'settings')), then defaults.
%   pyulm.internal.settings(S, SAVE) stores S for the session and, when SAVE
%   is true, in the preferences so that it survives 'clear all' and restarts.
persistent current
if nargin >= 1
    current = new;
    if nargin >= 2 && save_pref
        setpref('pyulm', 'settings', new);
    end
    s = current;
    return
end
if ~isempty(current)
    s = current;
    return
end
s = defaults();
if ispref('pyulm', 'settings')
    saved = getpref('pyulm', 'settings');
    if isstruct(saved)
        names = fieldnames(saved);
        for k = 1:numel(names)
            if isfield(s, names{k})
                s.(names{k}) = saved.(names{k});
            end
        end
    end
end
py_env = getenv('PYULM_PYTHON');
if ~isempty(py_env)
    s.python = py_env;
end
tr_env = getenv('PYULM_TRANSPORT');
if ~isempty(tr_env)
    s.transport = tr_env;
end
if pyulm.internal.is_octave()
    s.transport = 'file';
end
end

function s = defaults()
if ispc()
    python = 'python';
else
    python = 'python3';
end
s = struct('python', python, 'transport', 'auto', 'execution_mode', '', ...
           'npy_threshold', 2^31 - 1024, 'side_threshold', 2^20, 'side_format', 'auto', ...
           'svd_precision', 'double', 'pala_messages', true, 'worker', true, 'worker_timeout', Inf);
end
