function varargout = ULM_tracking2D(MatTracking, ULM, varargin)
%ULM_TRACKING2D PALA-compatible ULM_tracking2D running on pyulm (drop-in).
%   Tracks = ULM_tracking2D(MatTracking, ULM, mode);
%   [Tracks_raw, Tracks_interp] = ULM_tracking2D(MatTracking, ULM, 'pala').
%   See pyulm.ULM_tracking2D.
pyulm.internal.dropin_check();  % warns once if PALA's copies are ahead of this folder
pyulm.internal.check_count('ULM_tracking2D', nargin, 2, 3, 'inputs');
varargout = cell(1, max(1, nargout));
[varargout{:}] = pyulm.ULM_tracking2D(MatTracking, ULM, varargin{:});
end
