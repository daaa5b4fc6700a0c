function varargout = fus2ulm(image, varargin)
%FUS2ULM Raise the resolution of a fUS (power Doppler) image towards ULM (pyulm.nn.fus2ulm.enhance).
%   out = pyulm.fus2ulm(img) with img a grayscale fUS image in [0, 1], or raw power Doppler
%   with pyulm.fus2ulm(pd, 'power_doppler', true); options by their Python names
%   ('weights', model directory; 'steps', 'stride', 'seed', 'samples' (average of K samples),
%   'eta' for the diffusion model).
pyulm.internal.check_count('pyulm.fus2ulm', nargin, 1, Inf, 'inputs');
kw = pyulm.internal.name_value('pyulm.fus2ulm', varargin);
varargout = pyulm.internal.forward('fus2ulm', nargout, {image}, kw);
end
