function varargout = cycleulm(frames, name, varargin)
%CYCLEULM Run a named CycleULM pipeline or baseline (pyulm.nn.cycleulm.run_pipeline).
%   res = pyulm.cycleulm(IQf, name, 'Name', value, ...) with IQf the clutter-filtered IQ
%   [Nz Nx Nt] and name one of 'cycleulm-ncc', 'cycleulm-decon', 'cycleulm-loc',
%   'cycleulm-e2e' (these need 'translator', an MB-DT model directory), 'baseline1',
%   'baseline2'. Options by their Python names: 'fwhm', 'number_of_particles',
%   'frame_rate', 'pixel_size', 'res', 'max_linking_distance', 'min_length', 'tracks', ...
%   res.maps holds PALA's MatOut, MatOut_zdir, MatOut_vel; res.localizations and
%   res.tracks are pyulm tables (1-based positions); res.timings the seconds per stage.
%   Example:
%     res = pyulm.cycleulm(IQf, 'baseline2', 'fwhm', 3, 'number_of_particles', 40);
pyulm.internal.check_count('pyulm.cycleulm', nargin, 2, Inf, 'inputs');
pyulm.internal.check_arg('pyulm.cycleulm', 'frames', frames, 'numeric');
pyulm.internal.check_arg('pyulm.cycleulm', 'name', name, 'text');
kw = pyulm.internal.name_value('pyulm.cycleulm', varargin);
varargout = pyulm.internal.forward('cycleulm', nargout, {frames, name}, kw);
end
