function v = decode_py(p)
%DECODE_PY Python value returned by pyulm.matlab_bridge.call -> MATLAB value.
if isa(p, 'py.dict')
    s = struct(p);
    if isfield(s, 'pyulm_kind')
        v = decode_tagged(s, char(s.pyulm_kind));
        return
    end
    v = struct();
    names = fieldnames(s);
    for k = 1:numel(names)
        v.(names{k}) = pyulm.internal.decode_py(s.(names{k}));
    end
elseif isa(p, 'py.str')
    v = char(p);
elseif isa(p, 'py.list') || isa(p, 'py.tuple')
    c = cell(p);
    v = cell(numel(c), 1);
    for k = 1:numel(c)
        v{k} = pyulm.internal.decode_py(c{k});
    end
elseif isa(p, 'py.int')
    v = double(p);
elseif isa(p, 'py.NoneType')
    v = [];
else
    v = p;
end
end

function v = decode_tagged(s, kind)
switch kind
    case 'array'
        v = numeric(s.data, char(s.dtype), shape_of(s));
    case 'complex'
        if isa(s.re, 'double')
            v = complex(s.re, s.im);
        else
            v = complex(numeric(s.re, char(s.dtype), shape_of(s)), numeric(s.im, char(s.dtype), shape_of(s)));
        end
    case 'cell'
        c = cell(s.items);
        v = cell(numel(c), 1);
        for k = 1:numel(c)
            v{k} = pyulm.internal.decode_py(c{k});
        end
        v = reshape(v, shape_of(s));
    case 'empty'
        v = [];
    otherwise
        pyulm.internal.raise('pyulm:TransportFailed', sprintf('unknown value kind %s from Python', kind));
end
end

function dims = shape_of(s)
c = cell(s.shape);
dims = cellfun(@double, c);
if numel(dims) < 2
    dims = [dims ones(1, 2 - numel(dims))];
end
end

function v = numeric(a, dt, dims)
switch dt
    case 'float64'
        v = double(a);
    case 'float32'
        v = single(a);
    case 'bool'
        v = logical(a);
    otherwise
        v = feval(dt, a);
end
v = reshape(v, dims);
end
