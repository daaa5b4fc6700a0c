function locs = localize(frames, method, varargin)
%LOCALIZE Detect and localize microbubbles with any registered pyulm method.
%   locs = pyulm.localize(frames, method, 'Name', value, ...) runs
%   pyulm.localize on the block frames [Nz, Nx, Nt] with method one of
%   pyulm.available_methods() (e.g. 'radial', 'wa', 'interp'). Options use the
%   Python names: 'fwhm' (pixels, scalar or [fwhm_z fwhm_x]),
%   'number_of_particles' (required), 'n_local_max', method options.
%   locs is a struct with column vectors z, x (1-based pixels), frame
%   (1-based), intensity and any extra columns, plus meta.
%   Example:
%     locs = pyulm.localize(abs(IQf), 'radial', 'fwhm', 3, 'number_of_particles', 70);
pyulm.internal.check_count('pyulm.localize', nargin, 2, Inf, 'inputs');
pyulm.internal.check_arg('pyulm.localize', 'frames', frames, 'numeric');
pyulm.internal.check_arg('pyulm.localize', 'method', method, 'text');
kw = pyulm.internal.name_value('pyulm.localize', varargin);
locs = pyulm.internal.call('localize', 1, {frames, method}, kw);
end
