function varargout = translate(frames, weights, varargin)
%TRANSLATE Translate CEUS frames into CycleULM's MB-only domain with an MB-DT model (pyulm.nn.translate).
%   mb = pyulm.translate(IQf, dir) with IQf the clutter-filtered IQ (complex) or its amplitude
%   [Nz Nx Nt] (at least 3 frames) and dir an MB-DT model directory (pyulm train mbdt);
%   options by their Python names, e.g. pyulm.translate(IQf, dir, 'batch_size', 8).
%   mb is single [Nz Nx Nt]: bubbles with the translator's MB-only PSF, for any localizer.
pyulm.internal.check_count('pyulm.translate', nargin, 2, Inf, 'inputs');
pyulm.internal.check_arg('pyulm.translate', 'frames', frames, 'numeric');
pyulm.internal.check_arg('pyulm.translate', 'weights', weights, 'text');
kw = pyulm.internal.name_value('pyulm.translate', varargin);
varargout = pyulm.internal.forward('translate', nargout, {frames, weights}, kw);
end
