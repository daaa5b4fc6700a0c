function varargout = metrics(name, varargin)
%METRICS Call a function of pyulm.metrics by name.
%   out = pyulm.metrics(name, arg1, arg2, ..., 'Name', value, ...) calls
%   pyulm.metrics.<name>(arg1, arg2, ..., Name=value); positional arguments
%   are those before the first text argument.
pyulm.internal.check_count('pyulm.metrics', nargin, 1, Inf, 'inputs');
pyulm.internal.check_arg('pyulm.metrics', 'name', name, 'text');
[pos, kw] = pyulm.internal.split_args('pyulm.metrics', varargin);
varargout = pyulm.internal.forward(['metrics.' name], nargout, pos, kw);
end
