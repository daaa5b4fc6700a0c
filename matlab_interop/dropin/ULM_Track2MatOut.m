function varargout = ULM_Track2MatOut(Tracks, sizeOut, varargin)
%ULM_TRACK2MATOUT PALA-compatible ULM_Track2MatOut running on pyulm (drop-in).
%   MatOut = ULM_Track2MatOut(Tracks, sizeOut, 'mode', m); for velocity modes
%   one output is MatOut_vel, two outputs are [MatOut, MatOut_vel].
%   See pyulm.ULM_Track2MatOut.
pyulm.internal.dropin_check();  % warns once if PALA's copies are ahead of this folder
pyulm.internal.check_count('ULM_Track2MatOut', nargin, 2, 4, 'inputs');
varargout = cell(1, max(1, nargout));
[varargout{:}] = pyulm.ULM_Track2MatOut(Tracks, sizeOut, varargin{:});
end
