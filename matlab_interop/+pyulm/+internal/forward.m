function out = forward(func, nout, args, kwargs)
%FORWARD Call FUNC and collect NOUT outputs into a cell (for the wrappers).
nout = max(1, nout);
out = cell(1, nout);
[out{:}] = pyulm.internal.call(func, nout, args, kwargs);
end
