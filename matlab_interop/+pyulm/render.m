function varargout = render(tracks, varargin)
%RENDER Density / velocity maps from tracks (pyulm.render.render).
%   maps = pyulm.render(tr, 'shape', [Nz Nx], 'res', 10, 'kinds', {'density'})
%   with tr from pyulm.track; options by their Python names.
pyulm.internal.check_count('pyulm.render', nargin, 1, Inf, 'inputs');
kw = pyulm.internal.name_value('pyulm.render', varargin);
varargout = pyulm.internal.forward('render', nargout, {tracks}, kw);
end
