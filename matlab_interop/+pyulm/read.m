function varargout = read(path, varargin)
%READ Read a Verasonics / PALA acquisition file with pyulm.io.
%   data = pyulm.read(path, 'Name', value, ...) reads a PALA-style .mat block
%   (v5 or v7.3) or a Verasonics workspace; options by their Python names.
pyulm.internal.check_count('pyulm.read', nargin, 1, Inf, 'inputs');
pyulm.internal.check_arg('pyulm.read', 'path', path, 'text');
kw = pyulm.internal.name_value('pyulm.read', varargin);
varargout = pyulm.internal.forward('read', nargout, {path}, kw);
end
