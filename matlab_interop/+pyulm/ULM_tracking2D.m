function varargout = ULM_tracking2D(MatTracking, ULM, mode)
%ULM_TRACKING2D PALA's tracking (Hungarian linking + interpolation), by pyulm.
%   Tracks = pyulm.ULM_tracking2D(MatTracking, ULM, mode) with MatTracking
%   N x 4 [intensity z x frame] and mode 'velocityinterp' (default),
%   'nointerp', 'interp' or 'pala'; returns a column cell of tracks.
%   [Tracks_raw, Tracks_interp] = pyulm.ULM_tracking2D(..., 'pala').
%   ULM needs max_linking_distance, max_gap_closing, min_length, res, size,
%   scale. An empty MatTracking gives PALA's sentinel {[0 0 0 0]} (after PALA's
%   message 'Was not able to find tracks at'), as PALA does.
pyulm.internal.check_count('ULM_tracking2D', nargin, 2, 3, 'inputs');
pyulm.internal.check_count('ULM_tracking2D', nargout, 0, 2, 'outputs');
pyulm.internal.check_arg('ULM_tracking2D', 'MatTracking', MatTracking, 'array');
pyulm.internal.check_arg('ULM_tracking2D', 'ULM', ULM, 'struct');
args = {MatTracking, ULM};
if nargin >= 3
    pyulm.internal.check_arg('ULM_tracking2D', 'mode', mode, 'text');
    args{3} = mode;
end
varargout = pyulm.internal.forward('ULM_tracking2D', nargout, args, struct());
end
