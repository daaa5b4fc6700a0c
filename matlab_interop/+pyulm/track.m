function varargout = track(locs, varargin)
%TRACK Link localizations into tracks (pyulm.tracking.track).
%   tr = pyulm.track(locs, 'Name', value, ...) with locs from pyulm.localize
%   and options by their Python names ('max_linking_distance',
%   'max_gap_closing', 'min_length', ...). tr is a struct with a column cell
%   tr.tracks (one matrix per track, columns named in tr.columns; z, x and
%   frame 1-based) and tr.meta.
pyulm.internal.check_count('pyulm.track', nargin, 1, Inf, 'inputs');
if ~isstruct(locs)
    pyulm.internal.check_arg('pyulm.track', 'locs', locs, 'numeric');
end
kw = pyulm.internal.name_value('pyulm.track', varargin);
varargout = pyulm.internal.forward('track', nargout, {locs}, kw);
end
