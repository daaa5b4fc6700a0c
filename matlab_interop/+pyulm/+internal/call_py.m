function out = call_py(func, nout, args, kwargs)
%CALL_PY MATLAB py.* transport (MATLAB only; Octave uses the file transport).
%   Arguments are tagged with their MATLAB size and class so that
%   pyulm.matlab_bridge rebuilds them exactly; numeric buffers are passed
%   without a copy in-process. Complex arrays go as real and imaginary parts.
encoded = cell(1, numel(args));
for k = 1:numel(args)
    encoded{k} = encode(args{k});
end
try
    r = py.pyulm.matlab_bridge.call(func, encoded, encode(kwargs), int64(nout), ...
                                    pyulm.internal.wrapper_version());
catch err
    msg = err.message;
    if ~isempty(regexp(msg, 'No module named .?pyulm', 'once'))
        pe = pyenv();
        pyulm.internal.raise('pyulm:PyulmNotInstalled', ...
                             sprintf(['pyulm is not installed in the Python selected by pyenv (%s). Run\n' ...
                                      '  %s -m pip install pyulm==%s\nin a terminal, or choose another ' ...
                                      'Python with pyulm.setup(''Python'', ...).'], ...
                                     char(pe.Executable), char(pe.Executable), ...
                                     pyulm.internal.wrapper_version()));
    end
    pyulm.internal.raise('pyulm:TransportFailed', ...
                         sprintf(['calling Python failed: %s\nTry pyulm.setup(''ExecutionMode'', ' ...
                                  '''OutOfProcess'') or pyulm.setup(''Transport'', ''file'').'], msg));
end
r = struct(r);
if ~r.ok
    pyulm.internal.raise_python(char(r.err_type), char(r.err_msg));
end
items = cell(r.out);
out = cell(1, numel(items));
for k = 1:numel(items)
    out{k} = pyulm.internal.decode_py(items{k});
end
end

function v = encode(x)
if issparse(x)
    pyulm.internal.raise('pyulm:BadArgument', 'sparse matrices cannot be passed to pyulm: pass full(X)');
elseif isnumeric(x) || islogical(x)
    if isreal(x)
        v = struct('pyulm_kind', 'array', 'data', x, 'shape', size(x), 'dtype', dtype(x));
    else
        v = struct('pyulm_kind', 'complex', 're', real(x), 'im', imag(x), 'shape', size(x));
    end
elseif ischar(x) || isa(x, 'string')
    v = char(x);
elseif iscell(x)
    items = cell(1, numel(x));
    for k = 1:numel(x)
        items{k} = encode(x{k});
    end
    v = struct('pyulm_kind', 'cell', 'items', {items}, 'shape', size(x));
elseif isstruct(x)
    if numel(x) ~= 1
        items = cell(1, numel(x));
        for k = 1:numel(x)
            items{k} = encode(x(k));
        end
        v = struct('pyulm_kind', 'structarray', 'items', {items});
        return
    end
    v = struct();
    names = fieldnames(x);
    for k = 1:numel(names)
        v.(names{k}) = encode(x.(names{k}));
    end
else
    pyulm.internal.raise('pyulm:BadArgument', sprintf('cannot pass a value of class %s to pyulm', class(x)));
end
end

function t = dtype(x)
switch class(x)
    case 'double'
        t = 'float64';
    case 'single'
        t = 'float32';
    case 'logical'
        t = 'bool';
    otherwise
        t = class(x);
end
end
