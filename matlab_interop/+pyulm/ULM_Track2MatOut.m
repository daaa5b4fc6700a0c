function varargout = ULM_Track2MatOut(Tracks, sizeOut, varargin)
%ULM_TRACK2MATOUT PALA's density and velocity maps, computed by pyulm.
%   MatOut = pyulm.ULM_Track2MatOut(Tracks, sizeOut) counts tracks per pixel
%   ('2D_tracks' for a cell of tracks, '2D_allin' for one matrix).
%   ... = pyulm.ULM_Track2MatOut(Tracks, sizeOut, 'mode', m) with m one of
%   '2D_allin', '2D_tracks', '2D_velmean', '2D_velnorm', '2D_vel_z'.
%   For the velocity modes one output is MatOut_vel and two outputs are
%   [MatOut, MatOut_vel], as in PALA. Positions are on the SR grid.
pyulm.internal.check_count('ULM_Track2MatOut', nargin, 2, 4, 'inputs');
pyulm.internal.check_count('ULM_Track2MatOut', nargout, 0, 2, 'outputs');
pyulm.internal.check_arg('ULM_Track2MatOut', 'Tracks', Tracks, 'cell_or_numeric');
pyulm.internal.check_arg('ULM_Track2MatOut', 'sizeOut', sizeOut, 'numeric');
args = {Tracks, sizeOut};
if ~isempty(varargin)
    if numel(varargin) ~= 2 || ~ischar(varargin{1}) || ~strcmpi(varargin{1}, 'mode')
        pyulm.internal.raise('pyulm:BadArgument', ...
                             ['ULM_Track2MatOut: the only option is ''mode'', e.g. ' ...
                              'ULM_Track2MatOut(T, s, ''mode'', ''2D_tracks'')']);
    end
    pyulm.internal.check_arg('ULM_Track2MatOut', 'mode', varargin{2}, 'text');
    args{3} = varargin{2};
end
varargout = pyulm.internal.forward('ULM_Track2MatOut', nargout, args, struct());
end
