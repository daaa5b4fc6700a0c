function info = setup(varargin)
%SETUP Choose the Python that runs pyulm and how MATLAB/Octave talks to it.
%   pyulm.setup() checks the current settings; pyulm.setup('Name', value, ...):
%     'Python'        full path of the Python executable (or a version such as
%                     '3.11', passed to pyenv in MATLAB, 'python3.11' elsewhere)
%     'Transport'     'auto' (default: 'py' in MATLAB when pyenv works, else
%                     'file'), 'py' (MATLAB py.*) or 'file' (request/response
%                     .mat files, one Python process per call). Octave always
%                     uses 'file'.
%     'ExecutionMode' 'InProcess' or 'OutOfProcess' (MATLAB pyenv; OutOfProcess
%                     is recommended when torch, h5py or MKL are involved)
%     'SVDPrecision'  'double' (default: accurate) or 'pala_single' (PALA's own
%                     single-precision SVD on single IQ, as MATLAB computes it):
%                     the route of SVDfilter (drop-in and pyulm.SVDfilter)
%     'PalaMessages'  true (default) to print PALA's console lines, as PALA does
%                     ('Building 2D ULM image ...'), false to silence them
%     'Worker'        true (default): Octave's file transport sends every call
%                     to one Python worker started on the first call of the
%                     session (about 100 times less overhead per call); false:
%                     one Python per call
%     'Save'          true (default) to keep the settings across sessions
%                     (setpref('pyulm', 'settings', ...)), false for this session only
%   Checks that the Python runs, is >= 3.10, imports pyulm and that its version
%   equals this wrapper's (pyulm.version()), then stores the settings.
%   info = pyulm.setup(...) returns the versions found.
%   Example:
%     pyulm.setup('Python', '/home/me/venv/bin/python', 'ExecutionMode', 'OutOfProcess')
p = inputParser;
p.FunctionName = 'pyulm.setup';
is_text = @(x) ischar(x) || isa(x, 'string');
p.addParameter('Python', '', is_text);
p.addParameter('Transport', '', is_text);
p.addParameter('ExecutionMode', '', is_text);
p.addParameter('SVDPrecision', '', is_text);
p.addParameter('PalaMessages', [], @(x) (islogical(x) || isnumeric(x)) && isscalar(x));
p.addParameter('Worker', [], @(x) (islogical(x) || isnumeric(x)) && isscalar(x));
p.addParameter('Save', true, @(x) (islogical(x) || isnumeric(x)) && isscalar(x));
known = {'Python', 'Transport', 'ExecutionMode', 'SVDPrecision', 'PalaMessages', 'Worker', 'Save'};
for k = 1:2:numel(varargin)
    if ~ischar(varargin{k}) || ~any(strcmpi(varargin{k}, known))
        pyulm.internal.raise('pyulm:BadArgument', ...
                             sprintf('pyulm.setup: unknown option %s; the options are %s', ...
                                     disp_name(varargin{k}), strjoin(known, ', ')));
    end
end
try
    p.parse(varargin{:});
catch err
    pyulm.internal.raise('pyulm:BadArgument', err.message);
end
r = p.Results;
s = pyulm.internal.settings();
python = char(r.Python);
transport = lower(char(r.Transport));
mode = char(r.ExecutionMode);
if isempty(transport)
    transport = s.transport;
end
if ~any(strcmp(transport, {'auto', 'py', 'file'}))
    pyulm.internal.raise('pyulm:BadArgument', ...
                         sprintf('pyulm.setup: Transport must be ''auto'', ''py'' or ''file'', got ''%s''', transport));
end
if ~isempty(mode) && ~any(strcmpi(mode, {'InProcess', 'OutOfProcess'}))
    pyulm.internal.raise('pyulm:BadArgument', ...
                         sprintf(['pyulm.setup: ExecutionMode must be ''InProcess'' or ''OutOfProcess'', ' ...
                                  'got ''%s'''], mode));
end
precision = char(r.SVDPrecision);
if ~isempty(precision) && ~any(strcmp(precision, {'double', 'pala_single'}))
    pyulm.internal.raise('pyulm:BadArgument', ...
                         sprintf(['pyulm.setup: SVDPrecision must be ''double'' or ''pala_single'', ' ...
                                  'got ''%s'''], precision));
end
if ~isempty(precision)
    s.svd_precision = precision;
end
if ~isempty(r.PalaMessages)
    s.pala_messages = logical(r.PalaMessages);
end
if ~isempty(r.Worker)
    s.worker = logical(r.Worker);
    if ~s.worker && pyulm.internal.worker('available')
        pyulm.internal.worker('stop');  % no Python left waiting for calls that will not come
    end
end
is_version = ~isempty(regexp(python, '^\d+\.\d+$', 'once'));
if pyulm.internal.is_octave()
    if strcmp(transport, 'py')
        warning('pyulm:setup:OctaveFile', 'Octave has no py.* interface: using the ''file'' transport');
    end
    transport = 'file';
end
if any(strcmp(transport, {'py', 'auto'}))
    try
        exe = configure_pyenv(python, mode);
        transport = 'py';
        python = exe;
    catch err
        if strcmp(transport, 'py')
            rethrow(err);
        end
        transport = 'file';
    end
end
if is_version && strcmp(transport, 'file')
    if ispc()
        python = 'python';
    else
        python = ['python' python];
    end
end
if ~isempty(python)
    s.python = python;
end
s.transport = transport;
s.execution_mode = mode;
if strcmp(transport, 'file')
    check_python_version(s.python);
    once = s;
    once.worker = false;  % one Python of its own, whose output diagnoses a broken installation
    out = pyulm.internal.call_file('info', 1, {}, struct(), once);
else
    out = pyulm.internal.call_py('info', 1, {}, struct());
end
info = out{1};
info.transport = transport;
pyulm.internal.settings(s, logical(r.Save));
if nargout == 0
    fprintf('pyulm %s: Python %s (%s), transport ''%s''\n', info.pyulm_version, ...
            info.python_version, info.executable, transport);
    clear info;
end
end

function check_python_version(python)
code = 'import sys; sys.stdout.write(''%d.%d'' % sys.version_info[:2])';
cmd = pyulm.internal.python_command(python, {'-c', code}, tempdir());
[status, output] = system(cmd);
output = strtrim(output);
if status ~= 0 || isempty(regexp(output, '^\d+\.\d+$', 'once'))
    pyulm.internal.diagnose(python, status, output);
end
v = sscanf(output, '%d.%d');
if v(1) < 3 || (v(1) == 3 && v(2) < 10)
    pyulm.internal.raise('pyulm:UnsupportedPython', ...
                         sprintf(['%s is Python %s; pyulm needs Python >= 3.10. Install a newer Python and ' ...
                                  'run pyulm.setup(''Python'', ''/path/to/python3.11'').'], python, output));
end
end

function exe = configure_pyenv(python, mode)
% MATLAB only: select the interpreter and execution mode in pyenv.
pe = pyenv();
args = {};
if ~isempty(python)
    args = [args, {'Version', python}];
end
if ~isempty(mode)
    args = [args, {'ExecutionMode', mode}];
end
if ~isempty(args)
    same = (isempty(python) || strcmp(char(pe.Executable), python) || strcmp(char(pe.Version), python)) && ...
           (isempty(mode) || strcmpi(char(pe.ExecutionMode), mode));
    if strcmp(char(pe.Status), 'Loaded') && ~same
        if strcmpi(char(pe.ExecutionMode), 'OutOfProcess')
            terminate(pe);
        else
            pyulm.internal.raise('pyulm:PythonLoaded', ...
                                 sprintf(['Python %s is already loaded in this MATLAB session (InProcess); ' ...
                                          'restart MATLAB and run pyulm.setup first.'], char(pe.Executable)));
        end
    end
    pe = pyenv(args{:});
end
if isempty(char(pe.Version))
    pyulm.internal.raise('pyulm:PythonNotFound', ...
                         ['MATLAB found no Python. Install Python >= 3.10 (see ' ...
                          'https://www.mathworks.com/support/requirements/python-compatibility.html) and run ' ...
                          'pyulm.setup(''Python'', ''/full/path/to/python'').']);
end
exe = char(pe.Executable);
end

function s = disp_name(name)
if ischar(name)
    s = ['''' name ''''];
else
    s = sprintf('(a %s, not text)', class(name));
end
end
