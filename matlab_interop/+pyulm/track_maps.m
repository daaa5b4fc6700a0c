function varargout = track_maps(frames, varargin)
%TRACK_MAPS Super-resolved track map of a block of IQ frames by Deep-stULM (pyulm.nn.track_maps).
%   angio = pyulm.track_maps(IQf) with IQf the clutter-filtered complex IQ [Nz Nx Nt]
%   (at least 64 frames of 32 x 32 pixels for the shipped model); options by their
%   Python names, e.g. pyulm.track_maps(IQf, 'weights', dir, 'threshold', 0.4).
%   angio is r times finer than the frames (r = 4 for the shipped model).
pyulm.internal.check_count('pyulm.track_maps', nargin, 1, Inf, 'inputs');
kw = pyulm.internal.name_value('pyulm.track_maps', varargin);
varargout = pyulm.internal.forward('track_maps', nargout, {frames}, kw);
end
