function out = call_file(func, nout, args, kwargs, s)
%CALL_FILE File transport: request/response .mat files served by Python.
%   Writes request.mat (uncompressed -v6) into a private temporary directory,
%   has the session's persistent Python worker serve it (Octave; see
%   pyulm.internal.worker) or, as a fallback (MATLAB, or s.worker false),
%   runs  python -m pyulm.matlab_bridge request.mat response.mat  through
%   system() with every argument quoted; reads response.mat and removes the
%   directory (also after an error or Ctrl+C, via onCleanup).
%   Numeric and logical arrays of s.side_threshold bytes or more travel in
%   side files, one array per file, referenced from the .mat files (see
%   pyulm.internal.write_side); Python maps them instead of parsing them.
%   Arrays of s.npy_threshold bytes or more (MAT v5 holds at most 2 GB per
%   variable) travel as Fortran-ordered .npy files.
use_worker = isfield(s, 'worker') && s.worker && pyulm.internal.worker('available');
if use_worker
    d = pyulm.internal.worker('folder', s);  % the worker's private folder, emptied after each call
    % request.mat is overwritten by the next call's save; response.mat and the side files go
    cleaner = onCleanup(@() pyulm.internal.remove_tree(d, {'worker.log', 'request.mat'}));
else
    d = pyulm.internal.make_tempdir();
    cleaner = onCleanup(@() pyulm.internal.remove_tree(d));
end
lim = struct('npy', s.npy_threshold, 'side', Inf, 'format', 'mat');
if isfield(s, 'side_threshold')
    lim.side = s.side_threshold;
end
if pyulm.internal.is_octave() && ~(isfield(s, 'side_format') && strcmp(s.side_format, 'mat'))
    lim.format = 'octave';  % Octave reads (and for double writes) its own binary format fastest
end
counter = 0;
encoded = cell(size(args));
for k = 1:numel(args)
    [encoded{k}, counter] = encode(args{k}, d, lim, counter);
end
req = struct();
req.protocol = 1;
req.wrapper_version = pyulm.internal.wrapper_version();
req.func = func;
req.nargout = nout;
req.args = encoded;
[req.kwargs, counter] = encode(kwargs, d, lim, counter); %#ok<ASGLU>
req.npy_threshold = lim.npy;
req.side_threshold = lim.side;
req.side_format = lim.format;
req.pala_messages = ~isfield(s, 'pala_messages') || logical(s.pala_messages);
request = fullfile(d, 'request.mat');
response = fullfile(d, 'response.mat');
save(request, '-struct', 'req', '-v6');
if use_worker
    pyulm.internal.worker('call', d, s);  % the session's persistent Python
    if ~exist(response, 'file')
        pyulm.internal.raise('pyulm:TransportFailed', ...
                             sprintf('the pyulm Python worker wrote no response to %s', func));
    end
else
    cmd = pyulm.internal.python_command(s.python, {'-m', 'pyulm.matlab_bridge', request, response}, d);
    [status, output] = system(cmd);
    if ~exist(response, 'file')
        pyulm.internal.diagnose(s.python, status, output);
    end
end
try
    r = load(response);
catch err
    pyulm.internal.raise('pyulm:TransportFailed', ...
                         sprintf('the response of %s cannot be read (%s): %s', func, response, err.message));
end
if ~isstruct(r) || ~isfield(r, 'ok') || (~r.ok && ~all(isfield(r, {'err_type', 'err_msg'}))) || ...
   (r.ok && ~isfield(r, 'out'))
    pyulm.internal.raise('pyulm:TransportFailed', ...
                         sprintf('the response of %s (%s) is not a pyulm response', func, response));
end
if ~r.ok
    pyulm.internal.raise_python(r.err_type, r.err_msg);
end
if isfield(r, 'stdout') && ~isempty(r.stdout)
    fprintf('%s', r.stdout);  % PALA's console lines, printed by Python
end
out = r.out;
if numel(out) < nout
    pyulm.internal.raise('pyulm:TransportFailed', ...
                         sprintf('%s returned %d outputs, %d requested', func, numel(out), nout));
end
for k = 1:numel(out)
    out{k} = decode(out{k});
end
clear cleaner;
end

function [v, counter] = encode(x, d, lim, counter)
% MATLAB value -> what the request file carries (see pyulm.matlab_bridge.from_matlab).
if issparse(x)
    pyulm.internal.raise('pyulm:BadArgument', 'sparse matrices cannot be passed to pyulm: pass full(X)');
elseif isnumeric(x) || islogical(x)
    nb = pyulm.internal.nbytes(x);
    if nb >= lim.npy && ~isreal(x)
        % two real .npy files: written at disk speed, recombined by numpy
        part = struct('npy', 0, 'side', Inf, 'format', lim.format);
        [re, counter] = encode(real(x), d, part, counter);
        [im, counter] = encode(imag(x), d, part, counter);
        v = struct('pyulm_kind', 'complex', 're', re, 'im', im, 'shape', size(x));
    elseif nb >= lim.npy
        counter = counter + 1;
        path = fullfile(d, sprintf('arg_%d.npy', counter));
        pyulm.internal.write_npy(path, x);
        v = struct('pyulm_kind', 'npy', 'path', path);
    elseif nb >= lim.side
        counter = counter + 1;
        path = fullfile(d, sprintf('arg_%d.side', counter));
        fmt = pyulm.internal.write_side(path, x, lim.format);
        v = struct('pyulm_kind', 'side', 'path', path, 'format', fmt);
    else
        v = x;
    end
elseif ischar(x)
    if ~isempty(x) && size(x, 1) ~= 1
        pyulm.internal.raise('pyulm:BadArgument', ...
                             'multi-row char arrays are not supported: pass a cell array of char rows');
    end
    v = x;
elseif iscell(x)
    v = cell(size(x));
    for k = 1:numel(x)
        [v{k}, counter] = encode(x{k}, d, lim, counter);
    end
elseif isstruct(x)
    if numel(x) ~= 1
        items = cell(1, numel(x));
        for k = 1:numel(x)
            [items{k}, counter] = encode(x(k), d, lim, counter);
        end
        v = struct('pyulm_kind', 'structarray', 'items', {items});
        return
    end
    v = struct();
    names = fieldnames(x);
    for k = 1:numel(names)
        [v.(names{k}), counter] = encode(x.(names{k}), d, lim, counter);
    end
elseif isa(x, 'string')
    v = char(x);
else
    pyulm.internal.raise('pyulm:BadArgument', ...
                         sprintf(['cannot pass a value of class %s to pyulm; use numeric or logical ' ...
                                  'arrays, char, cell arrays or structs'], class(x)));
end
end

function v = decode(x)
% Response value -> MATLAB value; side file and .npy markers are read back.
if isstruct(x) && numel(x) == 1 && isfield(x, 'pyulm_kind') && strcmp(x.pyulm_kind, 'side')
    v = pyulm.internal.read_side(x.path, x.format);
elseif isstruct(x) && numel(x) == 1 && isfield(x, 'pyulm_kind') && strcmp(x.pyulm_kind, 'npy')
    v = pyulm.internal.read_npy(x.path);
elseif isstruct(x) && numel(x) == 1 && isfield(x, 'pyulm_kind') && strcmp(x.pyulm_kind, 'complex')
    v = complex(decode(x.re), decode(x.im));
elseif iscell(x)
    v = x;
    for k = 1:numel(x)
        v{k} = decode(x{k});
    end
elseif isstruct(x) && numel(x) == 1
    v = x;
    names = fieldnames(x);
    for k = 1:numel(names)
        v.(names{k}) = decode(x.(names{k}));
    end
else
    v = x;
end
end
