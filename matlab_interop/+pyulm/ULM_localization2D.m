function MatTracking = ULM_localization2D(MatIn, ULM)
%ULM_LOCALIZATION2D PALA's detection and localization, computed by pyulm.
%   MatTracking = pyulm.ULM_localization2D(MatIn, ULM) returns an N x 4 array
%   [intensity z x frame] in 1-based pixel units, PALA's row order, the class
%   of MatIn. ULM needs fwhm and numberOfParticles; ULM.LocMethod may be any
%   method of pyulm.available_methods() (default 'radial');
%   ULM.parameters.NLocalMax / InterpMethod as in PALA.
pyulm.internal.check_count('ULM_localization2D', nargin, 2, 2, 'inputs');
pyulm.internal.check_arg('ULM_localization2D', 'MatIn', MatIn, 'array');
pyulm.internal.check_arg('ULM_localization2D', 'ULM', ULM, 'struct');
MatTracking = pyulm.internal.call('ULM_localization2D', 1, {MatIn, ULM});
end
